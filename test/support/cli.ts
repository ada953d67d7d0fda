import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
  /** The run-log directory this invocation wrote to. */
  logDirectory: string
}

/**
 * Runs the built CLI (bin/run.js, which loads dist/) as a user would, in a child process with no
 * terminal, and a fresh run-log directory unless one is given.
 */
export async function runCli(argv: readonly string[], options: {env?: Record<string, string>; logDirectory?: string; stdin?: string; timeoutMs?: number} = {}): Promise<CliResult> {
  const logDirectory = options.logDirectory ?? mkdtempSync(path.join(tmpdir(), 'mispwazuh-cli-log-'))
  const result = await execa(process.execPath, [path.join(repositoryRoot, 'bin', 'run.js'), ...argv], {
    cwd: repositoryRoot,
    env: {MISPWAZUH_LOG_DIR: logDirectory, NO_COLOR: '1', ...options.env},
    extendEnv: true,
    input: options.stdin ?? '',
    reject: false,
    timeout: options.timeoutMs ?? 600_000,
  })
  return {exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr, logDirectory}
}

/** Returns the flags that point the CLI at a test server as the given user. */
export function hostFlags(server: {port: number; identityFile: string; knownHostsFile: string}, user = 'root'): string[] {
  return ['--host', `${user}@127.0.0.1:${server.port}`, '--identity', server.identityFile, '--known-hosts', server.knownHostsFile]
}
