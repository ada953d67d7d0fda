/**
 * A Target is the host being provisioned. Every command and every file operation of the
 * product goes through one, so the same code runs on the local machine and over SSH.
 *
 * Commands are argv arrays, never shell strings built from values. Secrets reach commands
 * through `stdin` or files: `env` values may be visible in the remote command line
 * (`env K=V ...` over SSH), so they must never hold a secret.
 */
export interface Target {
  /** How the target appears in messages and logs: `local` or `user@host:port`. */
  readonly name: string
  readonly remote: boolean

  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>

  /** Reads a whole file, byte for byte. Throws a MispwazuhError with code `file_not_found` when missing. */
  readFile(path: string): Promise<Buffer>
  readText(path: string): Promise<string>
  /** Returns undefined when nothing exists at `path`; does not follow a final symlink. */
  stat(path: string): Promise<FileStat | undefined>
  exists(path: string): Promise<boolean>

  /**
   * Writes a file atomically: a temp file in the same directory, its mode and owner set, then
   * renamed over `path`. An interrupted write leaves the old file and no temp file behind.
   * With `backup`, the old file is first copied next to it as `<path>.mispwazuh-<timestamp>`
   * with its owner and mode kept.
   */
  writeFile(path: string, data: string | Buffer, options?: WriteOptions): Promise<WriteResult>
  mkdir(path: string, options?: {mode?: number; owner?: string; group?: string}): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  chown(path: string, owner: string, group?: string): Promise<void>
  remove(path: string, options?: {recursive?: boolean}): Promise<void>

  close(): Promise<void>
}

export interface ExecOptions {
  stdin?: string | Buffer
  /** Non-secret environment for the command. */
  env?: Record<string, string>
  cwd?: string
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number
  /** Exit statuses that do not throw. Default: only 0. `'any'` never throws on exit status. */
  allowExitCodes?: readonly number[] | 'any'
  /** Called with each complete output line, for progress views. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Keep the command's output out of the run log (for example when it prints a key). */
  quiet?: boolean
}

export interface ExecResult {
  exitCode: number | null
  stdout: string
  stderr: string
  stdoutBuffer: Buffer
  durationMs: number
}

export type FileType = 'file' | 'directory' | 'symlink' | 'other'

export interface FileStat {
  type: FileType
  /** Permission bits including setuid/setgid/sticky, e.g. 0o640. */
  mode: number
  uid: number
  gid: number
  owner: string
  group: string
  size: number
  mtimeMs: number
}

export interface WriteOptions {
  mode?: number
  owner?: string
  group?: string
  backup?: boolean
}

export interface WriteResult {
  path: string
  backupPath: string | undefined
}

/** Quotes one argument for a POSIX shell: single quotes, with embedded quotes closed and escaped. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[\w@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replaceAll("'", String.raw`'\''`)}'`
}

export function backupPathFor(path: string, now = new Date()): string {
  const stamp = now.toISOString().replaceAll(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z')
  return `${path}.mispwazuh-${stamp}`
}

/**
 * The shell program that writes a file atomically on the target. Values arrive as positional
 * parameters, never inside the script: $1 path, $2 expected byte count, $3 mode (octal or
 * empty), $4 owner[:group] (or empty), $5 backup path (or empty). Content arrives on stdin.
 * A short read (dropped connection) fails the byte count check, and the trap removes the
 * temp file, so the old file stays as it was.
 */
export const ATOMIC_WRITE_SCRIPT = [
  'set -u',
  'dir=$(dirname -- "$1") || exit 70',
  'base=$(basename -- "$1")',
  'tmp=$(mktemp "$dir/.$base.mispwazuh-tmp.XXXXXX") || exit 71',
  'trap \'rm -f -- "$tmp"\' EXIT',
  'trap \'exit 129\' HUP',
  'trap \'exit 130\' INT',
  'trap \'exit 143\' TERM',
  'trap \'exit 141\' PIPE',
  'cat > "$tmp" || exit 72',
  'size=$(wc -c < "$tmp")',
  '[ "$size" -eq "$2" ] || { echo "short write: $size of $2 bytes" >&2; exit 73; }',
  'if [ -n "$3" ]; then chmod "$3" "$tmp" || exit 74; elif [ -e "$1" ]; then chmod --reference="$1" "$tmp" || exit 74; fi',
  'if [ -n "$4" ]; then chown "$4" "$tmp" || exit 75; elif [ -e "$1" ]; then chown --reference="$1" "$tmp" || exit 75; fi',
  'if [ -n "$5" ] && [ -e "$1" ]; then cp -p -- "$1" "$5" || exit 76; fi',
  'mv -f -- "$tmp" "$1" || exit 77',
  'trap - EXIT',
].join('\n')

/** Parses the output of `stat -c STAT_FORMAT`; the modification time has nanoseconds (`%.9Y`). */
export function parseStatLine(line: string): FileStat {
  const [kind = '', mode = '0', uid = '0', gid = '0', owner = '', group = '', size = '0', mtime = '0'] = line.trim().split('|')
  let type: FileType = 'other'
  if (kind === 'regular file' || kind === 'regular empty file') type = 'file'
  else if (kind === 'directory') type = 'directory'
  else if (kind === 'symbolic link') type = 'symlink'
  return {
    type,
    mode: Number.parseInt(mode, 8),
    uid: Number(uid),
    gid: Number(gid),
    owner,
    group,
    size: Number(size),
    mtimeMs: Math.round(Number(mtime) * 1000),
  }
}

export const STAT_FORMAT = '%F|%a|%u|%g|%U|%G|%s|%.9Y'
