import {Command, Flags} from '@oclif/core'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {HostSpec} from '../settings/host.js'
import {resolveSettings, settingFlags, type Prompter, type Resolved} from '../settings/resolve.js'
import type {SettingKey} from '../settings/schema.js'
import {LocalTarget} from '../target/local-target.js'
import type {Target} from '../target/target.js'
import {Redactor} from '../ui/redact.js'
import {RunLog} from '../ui/run-log.js'

/** Settings every command that reaches a host accepts. */
export const CONNECTION_SETTINGS = ['host', 'identity', 'knownHosts', 'acceptNewHostKey', 'connectTimeout'] as const satisfies readonly SettingKey[]

export interface ConnectionSettings {
  host?: HostSpec | undefined
  identity?: string | undefined
  knownHosts?: string | undefined
  acceptNewHostKey?: boolean | undefined
  connectTimeout?: number | undefined
}

/**
 * The base of every mispwazuh command: `--json`, `--config`, `--yes`, settings resolution,
 * the run log, the redactor, connecting to the target, and error rendering with distinct exit
 * codes. Progress goes to stderr, results to stdout.
 */
export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    config: Flags.string({description: 'YAML file of settings (keys as flag names). [env: MISPWAZUH_CONFIG]', helpValue: 'FILE'}),
    yes: Flags.boolean({char: 'y', description: 'Run without questions; a missing required value is an error.'}),
  }

  /** Replaces the terminal prompt in tests. */
  static prompter: Prompter | undefined

  /** Replaces registered secrets in every message before it is printed or logged. */
  protected readonly redactor = new Redactor()
  protected runLog: RunLog | undefined

  abstract override run(): Promise<T>

  /** True when questions may be asked: a terminal on stdin and stdout, no CI, no --json, no --yes. */
  protected isInteractive(flags: {yes?: boolean}): boolean {
    return Boolean(process.stdin.isTTY && process.stdout.isTTY && !process.env.CI && !this.jsonEnabled() && !flags.yes)
  }

  protected async resolve<K extends SettingKey>(flags: Record<string, unknown>, keys: readonly K[], required: readonly K[] = []): Promise<Resolved<K>> {
    return resolveSettings({
      keys,
      required,
      flags,
      env: process.env,
      configFile: (flags.config as string | undefined) ?? (process.env.MISPWAZUH_CONFIG || undefined),
      interactive: this.isInteractive(flags),
      prompter: (this.constructor as typeof BaseCommand).prompter,
    })
  }

  protected openRunLog(command: string): RunLog {
    this.runLog = new RunLog(this.redactor, {command, directory: process.env.MISPWAZUH_LOG_DIR || undefined})
    this.runLog.info(`mispwazuh ${this.config.version} ${command} (pid ${process.pid}, node ${process.version})`)
    return this.runLog
  }

  /** Opens the target: the local machine, or the --host over SSH. SSH code loads only when needed. */
  protected async openTarget(settings: ConnectionSettings, log: RunLog): Promise<Target> {
    if (!settings.host) return new LocalTarget(log)
    const {SshTarget} = await import('../target/ssh-target.js')
    return SshTarget.connect(
      {
        ...settings.host,
        identityFile: settings.identity,
        knownHostsFile: settings.knownHosts,
        acceptNewHostKey: settings.acceptNewHostKey,
        connectTimeoutMs: (settings.connectTimeout ?? 15) * 1000,
      },
      log,
    )
  }

  /**
   * Lets the first Ctrl+C stop a run between steps, so no file is left half-changed, because the
   * step that runs finishes first. A second Ctrl+C exits at once with status 130.
   */
  protected stopOnInterrupt(): {signal: AbortSignal; release: () => void} {
    const controller = new AbortController()
    const onInterrupt = () => {
      if (controller.signal.aborted) {
        this.runLog?.warn('second interrupt: exiting at once')
        process.exit(ExitCode.interrupted)
      }

      controller.abort()
      this.runLog?.warn('interrupted: stopping after the current step')
      process.stderr.write('\nInterrupted: finishing the current step, then stopping. Press Ctrl+C again to stop at once.\n')
    }

    process.on('SIGINT', onInterrupt)
    process.on('SIGTERM', onInterrupt)
    return {signal: controller.signal, release: () => {
      process.off('SIGINT', onInterrupt)
      process.off('SIGTERM', onInterrupt)
    }}
  }

  /** Writes one progress line to stderr (nothing in --json mode) and to the run log. */
  protected progress(message: string): void {
    const text = this.redactor.redact(message)
    this.runLog?.info(text)
    if (!this.jsonEnabled()) process.stderr.write(`${text}\n`)
  }

  /** Prints human output on stdout, redacted. Suppressed in --json mode. */
  protected print(text = ''): void {
    if (!this.jsonEnabled()) process.stdout.write(`${this.redactor.redact(text)}\n`)
  }

  protected override toSuccessJson(result: unknown): unknown {
    return this.redactor.redactValue(result)
  }

  override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (!(error instanceof MispwazuhError)) {
      // oclif's own parse errors (unknown flag, missing argument) carry an exit code: invalid input.
      if (error.oclif?.exit !== undefined) {
        this.runLog?.error(error.message)
        process.exitCode = error.oclif.exit
        if (this.jsonEnabled()) {
          this.logJson({error: {code: 'invalid_input', message: this.redactor.redact(error.message), exitCode: error.oclif.exit}})
          return undefined
        }

        return super.catch(error)
      }

      this.runLog?.error(error.stack ?? error.message)
    }

    const code = error instanceof MispwazuhError ? error.code : 'internal_error'
    const exitCode = error instanceof MispwazuhError ? error.exitCode : ExitCode.failed
    const fix = error instanceof MispwazuhError ? error.fix : 'This is a bug in mispwazuh; the run log has the details.'
    const message = this.redactor.redact(error.message)
    this.runLog?.error(`${code}: ${message}${fix ? ` | fix: ${fix}` : ''}`)
    process.exitCode = exitCode

    if (this.jsonEnabled()) {
      this.logJson({error: {code, message, fix, exitCode, log: this.runLog?.file}})
      return undefined
    }

    const lines = [`Error: ${message}`]
    if (fix) lines.push(`Fix: ${this.redactor.redact(fix)}`)
    if (this.runLog?.file) lines.push(`Log: ${this.runLog.file}`)
    process.stderr.write(`${lines.join('\n')}\n`)
    return undefined
  }
}

export {settingFlags}
