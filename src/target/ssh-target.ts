import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

import type {Client} from 'ssh2'
import type {Config as NodeSshConfig} from 'node-ssh'

import {ExitCode, MispwazuhError} from '../errors.js'
import {formatHostSpec, type HostSpec} from '../settings/host.js'
import type {RunLog} from '../ui/run-log.js'
import {CommandTarget, type RawRun} from './command-target.js'
import {addHostKey, checkHostKey, defaultKnownHostsFile, fingerprintOf, keyTypeOf} from './known-hosts.js'
import {shellQuote, type ExecOptions} from './target.js'

export interface SshOptions extends HostSpec {
  /** Private key file; without it the SSH agent (SSH_AUTH_SOCK) and then ~/.ssh/id_* are tried. */
  identityFile?: string
  knownHostsFile?: string
  /** Like OpenSSH's StrictHostKeyChecking=accept-new: record an unknown host key, still reject a changed one. */
  acceptNewHostKey?: boolean
  connectTimeoutMs?: number
  keepaliveIntervalMs?: number
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/**
 * A host reached over SSH (node-ssh on ssh2). A login user other than root runs every command
 * through `sudo -n`, so a sudo that wants a password fails at connect time with a clear error
 * instead of hanging at a prompt.
 */
export class SshTarget extends CommandTarget {
  readonly name: string
  readonly remote = true
  readonly useSudo: boolean
  private readonly client: Client

  private constructor(name: string, client: Client, useSudo: boolean, log?: RunLog) {
    super(log)
    this.name = name
    this.client = client
    this.useSudo = useSudo
  }

  static async connect(options: SshOptions, log?: RunLog): Promise<SshTarget> {
    const name = formatHostSpec(options)
    const {NodeSSH} = await import('node-ssh')
    const ssh = new NodeSSH()
    const knownHostsFile = options.knownHostsFile ?? defaultKnownHostsFile()
    let hostKeyProblem: MispwazuhError | undefined

    const config: NodeSshConfig = {
      host: options.host,
      port: options.port,
      username: options.user,
      readyTimeout: options.connectTimeoutMs ?? 15_000,
      keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        hostKeyProblem = verifyHostKey(knownHostsFile, options, key)
        return hostKeyProblem === undefined
      },
      ...credentials(options),
    }

    log?.info(`Connecting to ${name} (known_hosts ${knownHostsFile})`)
    try {
      await ssh.connect(config)
    } catch (error) {
      throw hostKeyProblem ?? connectionError(name, options, error)
    }

    const client = ssh.connection as Client
    const probe = new SshTarget(name, client, false, log)
    const whoami = await probe.exec(['id', '-u'])
    const isRoot = whoami.stdout.trim() === '0'
    if (!isRoot) {
      const sudo = await probe.exec(['sudo', '-n', 'true'], {allowExitCodes: 'any'})
      if (sudo.exitCode !== 0) {
        client.end()
        const wantsPassword = /password is required|a terminal is required/i.test(sudo.stderr)
        throw new MispwazuhError(
          wantsPassword
            ? `sudo on ${name} asks ${options.user} for a password, and mispwazuh runs it without a terminal.`
            : `${options.user} cannot use sudo on ${name}: ${sudo.stderr.trim() || `exit status ${sudo.exitCode}`}`,
          {
            code: wantsPassword ? 'sudo_password_required' : 'sudo_failed',
            exitCode: ExitCode.sudoPasswordRequired,
            fix: wantsPassword
              ? `Allow passwordless sudo for ${options.user} (a NOPASSWD line in /etc/sudoers.d/), or connect as root.`
              : `Add ${options.user} to sudoers, or connect as root.`,
          },
        )
      }
    }

    log?.info(`Connected to ${name} as ${options.user}${isRoot ? '' : ' (commands run with sudo -n)'}`)
    return new SshTarget(name, client, !isRoot, log)
  }

  protected run(argv: readonly string[], options: ExecOptions): Promise<RawRun> {
    return new Promise((resolve, reject) => {
      const command = this.commandLine(argv, options)
      this.client.exec(command, (error, channel) => {
        if (error) {
          reject(new MispwazuhError(`Could not run a command on ${this.name}: ${error.message}`, {code: 'ssh_channel_failed', exitCode: ExitCode.connectionFailed, cause: error}))
          return
        }

        const stdout: Buffer[] = []
        const stderr: Buffer[] = []
        let exitCode: number | null = null
        let signal: string | null = null
        let timedOut = false
        let settled = false
        // The remote `timeout` ends the command itself; this timer only covers a host that stops answering.
        const timer = options.timeoutMs
          ? setTimeout(() => {
              timedOut = true
              channel.close()
              finish()
            }, options.timeoutMs + 10_000)
          : undefined

        const lineBuffers = {stdout: '', stderr: ''}
        const emitLines = (name: 'stdout' | 'stderr', chunk: Buffer, final = false) => {
          if (!options.onLine) return
          lineBuffers[name] += chunk.toString('utf8')
          const lines = lineBuffers[name].split('\n')
          lineBuffers[name] = final ? '' : (lines.pop() ?? '')
          for (const line of lines) if (line !== '' || !final) options.onLine(line.replace(/\r$/, ''), name)
        }

        channel.on('data', (chunk: Buffer) => {
          stdout.push(chunk)
          emitLines('stdout', chunk)
        })
        channel.stderr.on('data', (chunk: Buffer) => {
          stderr.push(chunk)
          emitLines('stderr', chunk)
        })
        channel.on('exit', (code: number | null, signalName?: string) => {
          exitCode = code
          signal = signalName ?? null
        })
        const onConnectionClosed = () => finish(new MispwazuhError(`The connection to ${this.name} closed while running \`${argv[0]}\``, {code: 'connection_lost', exitCode: ExitCode.connectionFailed, fix: 'Check the network and the host, then run again; completed steps are kept.'}))
        const finish = (failure?: Error) => {
          if (settled) return
          settled = true
          if (timer) clearTimeout(timer)
          this.client.removeListener('close', onConnectionClosed)
          emitLines('stdout', Buffer.alloc(0), true)
          emitLines('stderr', Buffer.alloc(0), true)
          if (options.timeoutMs && (exitCode === 124 || exitCode === 137)) timedOut = true
          if (failure && !timedOut) reject(failure)
          else resolve({exitCode, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), timedOut})
        }

        this.client.once('close', onConnectionClosed)
        channel.on('close', () => finish())
        channel.end(options.stdin ?? undefined)
      })
    })
  }

  /** Builds the remote command line: each argument shell-quoted, wrapped in sudo and env as needed. */
  private commandLine(argv: readonly string[], options: ExecOptions): string {
    let words = [...argv]
    if (options.cwd) words = ['sh', '-c', 'cd -- "$1" || exit 1; shift; exec "$@"', 'mispwazuh-cd', options.cwd, ...words]
    if (options.timeoutMs) words = ['timeout', '-k', '5', `${Math.max(1, Math.ceil(options.timeoutMs / 1000))}`, ...words]
    if (options.env && Object.keys(options.env).length > 0) words = ['env', ...Object.entries(options.env).map(([key, value]) => `${key}=${value}`), ...words]
    if (this.useSudo) words = ['sudo', '-n', '--', ...words]
    return words.map(shellQuote).join(' ')
  }

  async close(): Promise<void> {
    this.client.end()
  }

  /** Drops the TCP connection at once, as a network failure would. Used by tests. */
  destroyConnection(): void {
    this.client.destroy()
  }
}

function credentials(options: SshOptions): Pick<NodeSshConfig, 'privateKey' | 'agent'> {
  if (options.identityFile) {
    if (!existsSync(options.identityFile)) {
      throw new MispwazuhError(`Identity file not found: ${options.identityFile}`, {code: 'identity_not_found', exitCode: ExitCode.invalidInput, fix: 'Pass the path of an SSH private key with --identity.'})
    }

    const key = readFileSync(options.identityFile, 'utf8')
    if (/^(?:ssh-|ecdsa-|sk-)\S+ AAAA/.test(key)) {
      throw new MispwazuhError(`${options.identityFile} is a public key; --identity needs the private key.`, {
        code: 'identity_unusable',
        exitCode: ExitCode.authenticationFailed,
        fix: `Pass the private key file, usually the same path without .pub (${options.identityFile.replace(/\.pub$/, '')}).`,
      })
    }

    return {privateKey: key}
  }

  if (process.env.SSH_AUTH_SOCK) return {agent: process.env.SSH_AUTH_SOCK}
  for (const name of DEFAULT_IDENTITIES) {
    const file = path.join(homedir(), '.ssh', name)
    if (existsSync(file)) return {privateKey: readFileSync(file, 'utf8')}
  }

  throw new MispwazuhError('No SSH key to log in with: no --identity, no SSH agent (SSH_AUTH_SOCK) and no ~/.ssh/id_ed25519, id_ecdsa or id_rsa.', {
    code: 'no_identity',
    exitCode: ExitCode.authenticationFailed,
    fix: 'Pass --identity FILE, or start ssh-agent and add your key.',
  })
}

function verifyHostKey(knownHostsFile: string, options: SshOptions, key: Buffer): MispwazuhError | undefined {
  const verdict = checkHostKey(knownHostsFile, options.host, options.port, key)
  const name = formatHostSpec(options)
  const fingerprint = fingerprintOf(key)
  if (verdict.status === 'match') return undefined

  if (verdict.status === 'unknown') {
    if (options.acceptNewHostKey) {
      addHostKey(knownHostsFile, options.host, options.port, key)
      return undefined
    }

    return new MispwazuhError(`The host key of ${name} is not in ${knownHostsFile} (${keyTypeOf(key)} ${fingerprint}).`, {
      code: 'host_key_unknown',
      exitCode: ExitCode.hostKeyUnknown,
      fix: `Check the fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_${keyTypeOf(key).replace(/^ssh-/, '').replace(/^ecdsa-.*/, 'ecdsa')}_key.pub), then run again with --accept-new-host-key, or add the key to known_hosts with ssh-keyscan.`,
    })
  }

  if (verdict.status === 'revoked') {
    return new MispwazuhError(`The host key of ${name} is marked @revoked in ${knownHostsFile} line ${verdict.line} (${fingerprint}).`, {code: 'host_key_revoked', exitCode: ExitCode.hostKeyChanged})
  }

  return new MispwazuhError(
    `The host key of ${name} has changed: it is now ${keyTypeOf(key)} ${fingerprint}, which does not match ${knownHostsFile} line ${verdict.line} (${verdict.knownType}). Someone may be intercepting the connection, or the server was reinstalled.`,
    {
      code: 'host_key_changed',
      exitCode: ExitCode.hostKeyChanged,
      fix: `If the server really was reinstalled, remove the old key with ssh-keygen -R, check the new fingerprint on the server, and connect again. --accept-new-host-key does not override a changed key.`,
    },
  )
}

function connectionError(name: string, options: SshOptions, error: unknown): MispwazuhError {
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as {code?: string}).code
  if (/All configured authentication methods failed/i.test(message)) {
    return new MispwazuhError(`${options.user} could not log in to ${name}: the server refused the key${options.identityFile ? ` ${options.identityFile}` : ''}.`, {
      code: 'authentication_failed',
      exitCode: ExitCode.authenticationFailed,
      fix: `Check that the public key is in ~${options.user}/.ssh/authorized_keys on the server, and that the user name is right.`,
    })
  }

  if (/Cannot parse privateKey|encrypted/i.test(message)) {
    return new MispwazuhError(`Could not use the SSH key ${options.identityFile ?? ''}: ${message}`, {
      code: 'identity_unusable',
      exitCode: ExitCode.authenticationFailed,
      fix: 'Encrypted keys are used through ssh-agent: run ssh-add, and leave out --identity.',
    })
  }

  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
  }
  const reason = (code && reasons[code]) ?? (/Timed out while waiting for handshake/i.test(message) ? 'no SSH handshake within the connect timeout' : message)
  return new MispwazuhError(`Could not connect to ${name}: ${reason}.`, {
    code: 'connection_failed',
    exitCode: ExitCode.connectionFailed,
    fix: `Check the address and port, that sshd runs on ${options.host}, and that no firewall blocks port ${options.port}.`,
    cause: error,
  })
}
