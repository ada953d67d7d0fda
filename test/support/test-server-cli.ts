/**
 * `npm run test-server`: starts one Debian test server for trying mispwazuh by hand and keeps
 * it running until Ctrl+C (SIGINT) or SIGTERM, then stops it and exits 0.
 *
 * With `--json`, prints exactly one JSON line once the server accepts SSH logins:
 * {"host","port","user","sudoUser","identityFile","knownHostsFile","rootfs"}.
 */
import fs from 'node:fs'
import {startTestServer, type TestServer} from './test-server.js'

const usage = 'Usage: npm run test-server [-- --json]\n'

function parseArguments(argv: readonly string[]): {json: boolean} {
  let json = false
  for (const argument of argv) {
    if (argument === '--json') {
      json = true
    } else if (argument === '--help' || argument === '-h') {
      process.stdout.write(usage)
      process.exit(0)
    } else {
      process.stderr.write(`Unknown argument "${argument}".\n${usage}`)
      process.exit(2)
    }
  }

  return {json}
}

function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

function describeServer(server: TestServer): string {
  const target = (user: string) => `--host ${user}@${server.host}:${server.port} --identity ${quote(server.identityFile)} --known-hosts ${quote(server.knownHostsFile)}`
  const sshCommand = (user: string) => `ssh -i ${quote(server.identityFile)} -o UserKnownHostsFile=${quote(server.knownHostsFile)} -p ${server.port} ${user}@${server.host}`

  return [
    `Debian test server running: sshd on ${server.host}:${server.port} (started in ${server.startDurationMs} ms).`,
    '',
    'Log in:',
    `  ${sshCommand(server.rootUser)}`,
    `  ${sshCommand(server.sudoUser)}      # passwordless sudo`,
    `  ${sshCommand(server.passwordSudoUser)}     # sudo asks for the password in ${server.passwordSudoUserPasswordFile}`,
    '',
    'mispwazuh flags:',
    `  as root:  ${target(server.rootUser)}`,
    `  as ${server.sudoUser}: ${target(server.sudoUser)}`,
    '',
    `Root filesystem on this machine: ${server.rootfs}`,
    'Changes live in an overlay and are deleted when the server stops.',
    'Press Ctrl+C to stop it.',
    '',
  ].join('\n')
}

async function main(): Promise<void> {
  const {json} = parseArguments(process.argv.slice(2))

  let server: TestServer | undefined
  let stopRequested = false
  const stop = async (exitCode: number) => {
    stopRequested = true
    if (!server) return
    await server.stop()
    if (!json) process.stderr.write('Test server stopped.\n')
    process.exit(exitCode)
  }

  // These listeners also tell the library's own signal handler not to re-raise the signal.
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))

  server = await startTestServer({log: (line) => process.stderr.write(`${line}\n`)})
  if (stopRequested) return stop(0)

  if (json) {
    const summary = {
      host: server.host,
      port: server.port,
      user: server.rootUser,
      sudoUser: server.sudoUser,
      identityFile: server.identityFile,
      knownHostsFile: server.knownHostsFile,
      rootfs: server.rootfs,
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`)
  } else {
    process.stdout.write(describeServer(server))
  }

  // The sshd child does not keep Node running, so this timer does. It also stops the server
  // when sshd dies or when the launcher is gone (see launcherChanged).
  const sshdPid = server.sshdPid
  const launcher = launcherIdentity()
  setInterval(() => {
    if (launcherChanged(launcher)) {
      process.stderr.write('The process that started the test server exited, so the test server stops.\n')
      void stop(0)
      return
    }

    if (fs.existsSync(`/proc/${sshdPid}`)) return
    const sshdLog = fs.readFileSync(`${server!.directory}/sshd.log`, 'utf8')
    process.stderr.write(`sshd (PID ${sshdPid}) exited, so the test server stops. sshd log:\n${sshdLog}`)
    void stop(1)
  }, 1000)
}

function parentPidOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

interface LauncherIdentity {
  parent: number
  grandparent: number | undefined
}

function launcherIdentity(): LauncherIdentity {
  return {parent: process.ppid, grandparent: parentPidOf(process.ppid)}
}

/**
 * Reports whether this process or its parent (tsx) lost its own parent. That happens when a
 * wrapper such as `npm run` is killed without passing the signal on. The server would then run
 * on with nobody to stop it, and stale cleanup spares it, because this process is alive.
 */
function launcherChanged(initial: LauncherIdentity): boolean {
  return process.ppid !== initial.parent || parentPidOf(initial.parent) !== initial.grandparent
}

main().catch((error: unknown) => {
  process.stderr.write(`Test server failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
