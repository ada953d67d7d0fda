import {CommandFailedError, MispwazuhError} from '../errors.js'
import type {RunLog} from '../ui/run-log.js'
import {
  ATOMIC_WRITE_SCRIPT,
  backupPathFor,
  parseStatLine,
  STAT_FORMAT,
  type ExecOptions,
  type ExecResult,
  type FileStat,
  type Target,
  type WriteOptions,
  type WriteResult,
} from './target.js'

/** What a concrete target must provide: run one argv as root (or the login user) and collect output. */
export interface RawRun {
  exitCode: number | null
  signal?: string | null
  stdout: Buffer
  stderr: Buffer
  timedOut?: boolean
}

/**
 * File operations built on commands, so LocalTarget and SshTarget share one implementation and
 * behave the same: owners by name, modes, atomic writes and backups all go through coreutils
 * on the target.
 */
export abstract class CommandTarget implements Target {
  abstract readonly name: string
  abstract readonly remote: boolean
  protected readonly log: RunLog | undefined

  constructor(log?: RunLog) {
    this.log = log
  }

  protected abstract run(argv: readonly string[], options: ExecOptions): Promise<RawRun>
  abstract close(): Promise<void>

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new Error('exec needs a command')
    const started = Date.now()
    const raw = await this.run(argv, options)
    const durationMs = Date.now() - started
    const stdout = raw.stdout.toString('utf8')
    const stderr = raw.stderr.toString('utf8')
    this.log?.command(this.name, argv, raw.exitCode, durationMs, options.quiet ? undefined : {stdout, stderr})

    if (raw.timedOut) {
      throw new MispwazuhError(`Command \`${argv[0]}\` on ${this.name} timed out after ${options.timeoutMs} ms`, {
        code: 'command_timeout',
        fix: 'Check that the host is not overloaded, then run again.',
      })
    }

    const allowed = options.allowExitCodes ?? [0]
    if (allowed !== 'any' && (raw.exitCode === null || !allowed.includes(raw.exitCode))) {
      throw new CommandFailedError(this.name, [...argv], raw.exitCode, stdout, stderr)
    }

    return {exitCode: raw.exitCode, stdout, stderr, stdoutBuffer: raw.stdout, durationMs}
  }

  async readFile(path: string): Promise<Buffer> {
    const result = await this.exec(['cat', '--', path], {allowExitCodes: 'any', quiet: true})
    if (result.exitCode !== 0) {
      if (/No such file or directory/.test(result.stderr)) {
        throw new MispwazuhError(`File not found on ${this.name}: ${path}`, {code: 'file_not_found'})
      }

      throw new CommandFailedError(this.name, ['cat', '--', path], result.exitCode, '', result.stderr)
    }

    return result.stdoutBuffer
  }

  async readText(path: string): Promise<string> {
    return (await this.readFile(path)).toString('utf8')
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const result = await this.exec(['stat', '-c', STAT_FORMAT, '--', path], {allowExitCodes: 'any'})
    if (result.exitCode !== 0) {
      if (/No such file or directory|Not a directory/.test(result.stderr)) return undefined
      throw new CommandFailedError(this.name, ['stat', path], result.exitCode, result.stdout, result.stderr)
    }

    return parseStatLine(result.stdout)
  }

  async exists(path: string): Promise<boolean> {
    return (await this.stat(path)) !== undefined
  }

  async writeFile(path: string, data: string | Buffer, options: WriteOptions = {}): Promise<WriteResult> {
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    const owner = options.owner ? (options.group ? `${options.owner}:${options.group}` : options.owner) : options.group ? `:${options.group}` : ''
    const backupPath = options.backup && (await this.exists(path)) ? backupPathFor(path) : undefined
    const argv = ['sh', '-c', ATOMIC_WRITE_SCRIPT, 'mispwazuh-write', path, String(buffer.length), options.mode === undefined ? '' : options.mode.toString(8), owner, backupPath ?? '']
    const result = await this.exec(argv, {stdin: buffer, allowExitCodes: 'any', quiet: true})
    if (result.exitCode !== 0) {
      throw new MispwazuhError(`Could not write ${path} on ${this.name}: ${result.stderr.trim() || `exit status ${result.exitCode}`}`, {
        code: 'write_failed',
        fix: 'Check that the directory exists and that the user can write it (or has sudo).',
      })
    }

    return {path, backupPath}
  }

  async mkdir(path: string, options: {mode?: number; owner?: string; group?: string} = {}): Promise<void> {
    await this.exec(['mkdir', '-p', '--', path])
    if (options.mode !== undefined) await this.chmod(path, options.mode)
    if (options.owner || options.group) await this.chown(path, options.owner ?? '', options.group)
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.exec(['chmod', mode.toString(8), '--', path])
  }

  async chown(path: string, owner: string, group?: string): Promise<void> {
    await this.exec(['chown', group ? `${owner}:${group}` : owner, '--', path])
  }

  async remove(path: string, options: {recursive?: boolean} = {}): Promise<void> {
    await this.exec(options.recursive ? ['rm', '-rf', '--', path] : ['rm', '-f', '--', path])
  }
}
