import {appendFileSync, mkdirSync, openSync, closeSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

import type {Redactor} from './redact.js'

/**
 * Returns the directory for run logs: `$XDG_STATE_HOME/mispwazuh/logs`, or
 * `~/.local/state/mispwazuh/logs`. Under sudo, HOME is root's, so logs of `sudo mispwazuh`
 * land in root's state directory.
 */
export function defaultLogDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(homedir(), '.local', 'state')
  return path.join(stateHome, 'mispwazuh', 'logs')
}

/**
 * One log file per run, mode 0600. Every line passes through the redactor.
 * Writes are synchronous so that the log is complete even when the process is killed.
 */
export class RunLog {
  readonly file: string | undefined
  private readonly redactor: Redactor

  constructor(redactor: Redactor, options: {directory?: string; command: string; disabled?: boolean}) {
    this.redactor = redactor
    if (options.disabled) {
      this.file = undefined
      return
    }

    const directory = options.directory ?? defaultLogDirectory()
    mkdirSync(directory, {recursive: true, mode: 0o700})
    const stamp = new Date().toISOString().replaceAll(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
    this.file = path.join(directory, `${stamp}-${options.command}-${process.pid}.log`)
    closeSync(openSync(this.file, 'a', 0o600))
  }

  info(message: string): void {
    this.write('INFO', message)
  }

  warn(message: string): void {
    this.write('WARN', message)
  }

  error(message: string): void {
    this.write('ERROR', message)
  }

  /** Records one command run on a target: argv, exit status and duration, then its output. */
  command(target: string, argv: readonly string[], exitStatus: number | null, durationMs: number, output?: {stdout?: string; stderr?: string}): void {
    this.write('CMD', `${target} $ ${argv.map(quoteForLog).join(' ')} -> exit ${exitStatus ?? 'none'} in ${durationMs} ms`)
    for (const [name, text] of Object.entries(output ?? {})) {
      if (text) this.write(name === 'stdout' ? 'OUT' : 'ERR', text.length > 20_000 ? `${text.slice(0, 20_000)}... (${text.length} characters, cut)` : text)
    }
  }

  private write(level: string, message: string): void {
    if (!this.file) return
    const text = this.redactor.redact(message)
    const prefix = `${new Date().toISOString()} ${level} `
    const lines = text.split('\n').map((line, index) => (index === 0 ? prefix : ' '.repeat(prefix.length)) + line)
    appendFileSync(this.file, `${lines.join('\n')}\n`)
  }
}

function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", String.raw`'\''`)}'`
}
