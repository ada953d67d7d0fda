import {execa} from 'execa'

import type {RunLog} from '../ui/run-log.js'
import {CommandTarget, type RawRun} from './command-target.js'
import type {ExecOptions} from './target.js'

/** The machine the CLI runs on. Commands run with the CLI's own privileges (run it with sudo). */
export class LocalTarget extends CommandTarget {
  readonly name = 'local'
  readonly remote = false

  constructor(log?: RunLog) {
    super(log)
  }

  protected async run(argv: readonly string[], options: ExecOptions): Promise<RawRun> {
    const [file, ...args] = argv as [string, ...string[]]
    const child = execa(file, args, {
      input: options.stdin ?? '',
      env: options.env,
      cwd: options.cwd,
      timeout: options.timeoutMs,
      encoding: 'buffer',
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 512 * 1024 * 1024,
    })

    if (options.onLine) attachLineReader(child.stdout, 'stdout', options.onLine)
    if (options.onLine) attachLineReader(child.stderr, 'stderr', options.onLine)

    const result = await child
    if (result.failed && result.exitCode === undefined && !result.timedOut && result.signal === undefined) {
      // The program could not be started at all (not found, not executable).
      return {exitCode: 127, stdout: Buffer.alloc(0), stderr: Buffer.from(`${file}: command not found or not executable\n`)}
    }

    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      stdout: Buffer.from(result.stdout as Uint8Array),
      stderr: Buffer.from(result.stderr as Uint8Array),
      timedOut: result.timedOut,
    }
  }

  async close(): Promise<void> {}
}

export function attachLineReader(stream: NodeJS.ReadableStream | null | undefined, name: 'stdout' | 'stderr', onLine: (line: string, stream: 'stdout' | 'stderr') => void): void {
  if (!stream) return
  let pending = ''
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8')
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) onLine(line.replace(/\r$/, ''), name)
  })
  stream.on('end', () => {
    if (pending) onLine(pending, name)
  })
}
