/**
 * A real Debian server for tests: a debootstrap root filesystem, cached once, and per server an
 * overlay copy of it with its own sshd on a loopback port.
 *
 * The server shares this machine's kernel, process IDs and network (it is a chroot, not a
 * container), so its sshd listens on 127.0.0.1 and its processes show in this machine's `ps`.
 * Starting and stopping need root, because they mount filesystems and chroot.
 */
import {spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {isMainThread} from 'node:worker_threads'
import {afterAll, beforeAll} from 'vitest'

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** Folder for cached root filesystems and their build logs (ignored by git). */
export const cacheDirectory = path.join(repositoryRoot, '.cache', 'test-server')

const debianSuite = 'bookworm'
const debianMirror = 'http://deb.debian.org/debian'

/** Packages installed into the root filesystem on top of debootstrap's minbase variant. */
export const rootfsPackages: readonly string[] = [
  'openssh-server',
  'sudo',
  'python3',
  'cron',
  'ca-certificates',
  'curl',
  'git',
  'gnupg',
  'procps',
  'iproute2',
  'openssl',
]

// Part of the cache key: bump it whenever finishRootfs or the debootstrap call changes, so that
// every machine rebuilds its cached root filesystem.
const rootfsRecipeVersion = '1'

/** Prefix of every per-server directory under the system temp directory. */
export const serverDirectoryPrefix = 'mispwazuh-test-server-'

const chrootPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

// ---------------------------------------------------------------------------------------------
// Small process and filesystem helpers
// ---------------------------------------------------------------------------------------------

export interface CommandResult {
  exitCode: number
  stdout: string
  stderr: string
}

interface RunOptions {
  stdin?: string | Buffer
  env?: NodeJS.ProcessEnv
}

/** Runs a program and collects its output. Never throws on a non-zero exit status. */
function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      resolve({
        exitCode: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      })
    })

    // A command that exits before reading its stdin makes the pipe fail with EPIPE. The exit
    // status already reports that failure to the caller.
    child.stdin.on('error', () => {})
    child.stdin.end(options.stdin ?? '')
  })
}

/** Runs a program synchronously and throws with its output when it fails. */
function runCommandSync(file: string, args: readonly string[], input?: string): string {
  const result = spawnSync(file, args, {encoding: 'utf8', input})
  if (result.error) throw result.error
  if (result.status !== 0) {
    throw new Error(`${file} ${args.join(' ')} failed with exit status ${result.status}: ${result.stderr.trim()}`)
  }

  return result.stdout
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4))

/** Blocks the thread, because teardown must also work inside a process 'exit' handler. */
function sleepSync(milliseconds: number): void {
  Atomics.wait(sleepCell, 0, 0, milliseconds)
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

/** Returns the kernel start time of a process (field 22 of /proc/PID/stat), or undefined when it is gone. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19]
  } catch {
    return undefined
  }
}

/** Process identity that survives PID reuse: the PID plus its kernel start time. */
interface ProcessIdentity {
  pid: number
  startTime: string
}

function currentProcessIdentity(): ProcessIdentity {
  return {pid: process.pid, startTime: processStartTime(process.pid) ?? ''}
}

function isProcessAlive(identity: ProcessIdentity): boolean {
  return processStartTime(identity.pid) === identity.startTime
}

function readProcessIdentity(file: string): ProcessIdentity | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ProcessIdentity>
    if (typeof parsed.pid === 'number' && typeof parsed.startTime === 'string') {
      return {pid: parsed.pid, startTime: parsed.startTime}
    }
  } catch {
    // A missing or half-written file means no known owner.
  }

  return undefined
}

/** Lists mount points of this mount namespace in mount order, octal escapes decoded. */
function listMountPoints(): string[] {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  const mountPoints: string[] = []
  for (const line of lines) {
    const field = line.split(' ')[4]
    if (field) mountPoints.push(field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
  }

  return mountPoints
}

function isAtOrUnder(candidate: string, directory: string): boolean {
  return candidate === directory || candidate.startsWith(directory + '/')
}

/** Lists mount points at or under a directory. */
export function mountsUnder(directory: string): string[] {
  return listMountPoints().filter((mountPoint) => isAtOrUnder(mountPoint, directory))
}

/** Unmounts everything at or under a directory, newest mount first, lazily when a mount is busy. */
function unmountAllUnder(directory: string): void {
  for (const mountPoint of mountsUnder(directory).reverse()) {
    const result = spawnSync('umount', [mountPoint], {encoding: 'utf8'})
    if (result.status !== 0) spawnSync('umount', ['--lazy', mountPoint], {encoding: 'utf8'})
  }
}

/** Lists processes whose root directory (/proc/PID/root) is the given directory. */
export function processesRootedAt(directory: string): number[] {
  const pids: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (fs.readlinkSync(`/proc/${entry}/root`) === directory) pids.push(Number(entry))
    } catch {
      // The process exited while the list was read, or it is a zombie without a root.
    }
  }

  return pids
}

/** Sends SIGTERM, then SIGKILL after a grace period, to every process rooted at a directory. */
function killProcessesRootedAt(directory: string): void {
  const graceMilliseconds = 1500
  const deadline = Date.now() + 10_000
  let firstTermAt: number | undefined
  for (;;) {
    const pids = processesRootedAt(directory)
    if (pids.length === 0) return
    if (Date.now() > deadline) {
      throw new Error(`Processes ${pids.join(', ')} rooted at ${directory} did not exit after SIGKILL.`)
    }

    firstTermAt ??= Date.now()
    const signal = Date.now() - firstTermAt < graceMilliseconds ? 'SIGTERM' : 'SIGKILL'
    for (const pid of pids) {
      try {
        process.kill(pid, signal)
      } catch {
        // Already gone.
      }
    }

    sleepSync(50)
  }
}

/**
 * Removes a directory tree after unmounting everything under it. Refuses to delete while any
 * mount is left, because a bind mount of /dev under it would make `rm -r` delete host devices.
 */
function removeTreeSafely(directory: string): void {
  unmountAllUnder(directory)
  const left = mountsUnder(directory)
  if (left.length > 0) {
    throw new Error(`Not removing ${directory}: still mounted at ${left.join(', ')}. Unmount them and remove the directory by hand.`)
  }

  runCommandSync('rm', ['-rf', '--one-file-system', directory])
}

// ---------------------------------------------------------------------------------------------
// The cached root filesystem
// ---------------------------------------------------------------------------------------------

const requiredHostPrograms = ['/usr/sbin/debootstrap', '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/sbin/chroot', '/usr/bin/setpriv']

/** Throws a clear error when this machine cannot run test servers. */
function checkHostRequirements(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('The test server needs root, because it mounts an overlay and runs sshd in a chroot. Run the tests as root.')
  }

  const missing = requiredHostPrograms.filter((program) => !fs.existsSync(program))
  if (missing.length > 0) {
    throw new Error(`The test server needs ${missing.join(', ')} on this machine: apt-get install debootstrap openssh-client coreutils util-linux.`)
  }
}

/** Returns the cache key: a hash of the package list, the suite, the mirror and the recipe version. */
export function rootfsKey(): string {
  const recipe = JSON.stringify({
    suite: debianSuite,
    mirror: debianMirror,
    variant: 'minbase',
    packages: [...rootfsPackages].sort(),
    recipe: rootfsRecipeVersion,
  })
  return createHash('sha256').update(recipe).digest('hex').slice(0, 16)
}

/** Returns the path of the cached root filesystem for the current recipe (it may not exist yet). */
export function cachedRootfsPath(): string {
  return path.join(cacheDirectory, `rootfs-${rootfsKey()}`)
}

const buildLockPath = path.join(cacheDirectory, 'build.lock')

/** Tries to take the build lock, removing a lock whose owner process is gone. */
function tryTakeBuildLock(): boolean {
  try {
    fs.writeFileSync(buildLockPath, JSON.stringify(currentProcessIdentity()), {flag: 'wx'})
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }

  const owner = readProcessIdentity(buildLockPath)
  if (owner && isProcessAlive(owner)) return false

  // A lock file without a live owner is left by a killed build. It may also be a lock whose
  // owner has not finished writing it yet, so only remove it when it is older than a second.
  const lockStat = fs.statSync(buildLockPath, {throwIfNoEntry: false})
  if (!lockStat) return tryTakeBuildLock()
  if (!owner && Date.now() - lockStat.mtimeMs < 1000) return false
  fs.rmSync(buildLockPath, {force: true})
  return tryTakeBuildLock()
}

function isBuildLockHeld(): boolean {
  const owner = readProcessIdentity(buildLockPath)
  return owner !== undefined && isProcessAlive(owner)
}

export interface EnsureRootfsResult {
  path: string
  /** True when this call ran debootstrap. */
  built: boolean
  durationMs: number
}

/**
 * Returns the cached root filesystem, building it first when it is missing. Concurrent callers,
 * in this process or others, wait for one build instead of building twice.
 */
export async function ensureRootfs(log: (line: string) => void = () => {}): Promise<EnsureRootfsResult> {
  const started = Date.now()
  const finalPath = cachedRootfsPath()
  checkHostRequirements()
  fs.mkdirSync(cacheDirectory, {recursive: true})

  const buildTimeoutMilliseconds = 20 * 60_000
  let waitingLogged = false
  for (;;) {
    if (fs.existsSync(finalPath)) return {path: finalPath, built: false, durationMs: Date.now() - started}
    if (tryTakeBuildLock()) break

    if (!waitingLogged) {
      log(`Waiting for another process to finish building ${finalPath}`)
      waitingLogged = true
    }

    if (Date.now() - started > buildTimeoutMilliseconds) {
      throw new Error(`Timed out after ${buildTimeoutMilliseconds / 60_000} minutes waiting for the lock ${buildLockPath}.`)
    }

    await sleep(1000)
  }

  try {
    // Another process may have finished the build between the existence check and the lock.
    if (fs.existsSync(finalPath)) return {path: finalPath, built: false, durationMs: Date.now() - started}

    await buildRootfs(finalPath, log)
    return {path: finalPath, built: true, durationMs: Date.now() - started}
  } finally {
    fs.rmSync(buildLockPath, {force: true})
  }
}

/** Builds into a temporary directory and renames it into place, so a killed build leaves no cache. */
async function buildRootfs(finalPath: string, log: (line: string) => void): Promise<void> {
  const buildPath = path.join(cacheDirectory, `build-${rootfsKey()}-${process.pid}`)
  const logPath = path.join(cacheDirectory, `build-${rootfsKey()}.log`)
  if (fs.existsSync(buildPath)) removeTreeSafely(buildPath)

  log(`Building the Debian ${debianSuite} root filesystem with debootstrap into ${buildPath} (about a minute; log: ${logPath})`)
  const debootstrapArgs = [
    '--variant=minbase',
    `--include=${rootfsPackages.join(',')}`,
    debianSuite,
    buildPath,
    debianMirror,
  ]
  const logFd = fs.openSync(logPath, 'w')
  const exitCode = await new Promise<number>((resolve, reject) => {
    // setpriv makes the kernel kill debootstrap when this process dies, so a killed run leaves
    // no build going on in the background. cleanStaleTestServers removes what it left.
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'debootstrap', ...debootstrapArgs], {stdio: ['ignore', logFd, logFd]})
    child.on('error', reject)
    child.on('close', (code) => resolve(code ?? 1))
  }).finally(() => fs.closeSync(logFd))

  if (exitCode !== 0) {
    const tail = fs.readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n')
    removeTreeSafely(buildPath)
    throw new Error(`debootstrap failed with exit status ${exitCode} (full log: ${logPath}). Last lines:\n${tail}`)
  }

  try {
    // debootstrap unmounts its own /proc and /sys on success. A leftover mount would travel
    // with the rename into the cache, so make sure.
    unmountAllUnder(buildPath)
    await finishRootfs(buildPath)
  } catch (error) {
    removeTreeSafely(buildPath)
    throw error
  }

  fs.renameSync(buildPath, finalPath)
  log(`Root filesystem ready at ${finalPath}`)
}

/** Adds what every test server has in common: resolver config, users, sudo rules, no host keys. */
async function finishRootfs(root: string): Promise<void> {
  const inChroot = (argv: string[], stdin?: string) => {
    runCommandSync('chroot', [root, '/usr/bin/env', '-i', `PATH=${chrootPath}`, ...argv], stdin)
  }

  fs.writeFileSync(path.join(root, 'etc/resolv.conf'), fs.readFileSync('/etc/resolv.conf'))

  // Every server gets fresh host keys at start. Keys made by the openssh-server package would
  // be shared by all servers built from this cache.
  for (const entry of fs.readdirSync(path.join(root, 'etc/ssh'))) {
    if (entry.startsWith('ssh_host_')) fs.rmSync(path.join(root, 'etc/ssh', entry))
  }

  // No init system runs in the chroot, so package scripts must not try to start services, as
  // in Debian container images. A test starts what it needs by hand.
  fs.writeFileSync(path.join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\n# Packages may not start services in this test server.\nexit 101\n', {mode: 0o755})

  inChroot(['useradd', '--create-home', '--shell', '/bin/bash', '--groups', 'sudo', 'admin'])
  inChroot(['useradd', '--create-home', '--shell', '/bin/bash', '--groups', 'sudo', 'pwuser'])

  // Debian's /etc/sudoers gives the sudo group `ALL=(ALL:ALL) ALL`, which requires a password,
  // and includes /etc/sudoers.d last, so this later rule wins for admin only.
  const sudoersFile = path.join(root, 'etc/sudoers.d/90-admin-nopasswd')
  fs.writeFileSync(sudoersFile, 'admin ALL=(ALL:ALL) NOPASSWD:ALL\n', {mode: 0o440})
  inChroot(['visudo', '--check', '--quiet'])

  fs.mkdirSync(path.join(root, 'run/sshd'), {recursive: true, mode: 0o755})
  inChroot(['apt-get', 'clean'])
}

// ---------------------------------------------------------------------------------------------
// Per-server directories and their cleanup
// ---------------------------------------------------------------------------------------------

const liveServerDirectories = new Set<string>()
let exitHandlersInstalled = false

/** Stops a server given its directory: kills its processes, unmounts, deletes the directory. */
function tearDownServerDirectory(directory: string): void {
  const merged = path.join(directory, 'merged')
  killProcessesRootedAt(merged)
  removeTreeSafely(directory)
  liveServerDirectories.delete(directory)
}

function tearDownLiveServers(): void {
  for (const directory of [...liveServerDirectories]) {
    try {
      tearDownServerDirectory(directory)
    } catch (error) {
      process.stderr.write(`Test server cleanup failed for ${directory}: ${(error as Error).message}\n`)
    }
  }
}

/**
 * Makes servers stop when the process exits or gets SIGINT, SIGTERM or SIGHUP. After cleanup
 * the signal is raised again, unless another listener (such as the test-server CLI) handles it.
 */
function installExitHandlers(): void {
  if (exitHandlersInstalled) return
  exitHandlersInstalled = true

  process.on('exit', tearDownLiveServers)
  if (!isMainThread) return

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      tearDownLiveServers()
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

function serverDirectoryBases(): string[] {
  return [...new Set([os.tmpdir(), '/tmp'])]
}

/**
 * Removes test server directories, mounts and processes left by runs that were killed. A
 * directory is stale when the process named in its owner.json is gone; servers of other live
 * runs are left alone. Also removes unfinished root filesystem builds.
 */
export function cleanStaleTestServers(log: (line: string) => void = () => {}): void {
  for (const base of serverDirectoryBases()) {
    let entries: string[]
    try {
      entries = fs.readdirSync(base)
    } catch {
      continue
    }

    for (const entry of entries) {
      if (!entry.startsWith(serverDirectoryPrefix)) continue
      const directory = path.join(base, entry)
      const owner = readProcessIdentity(path.join(directory, 'owner.json'))
      if (owner && isProcessAlive(owner)) continue

      // A directory without owner.json comes from a start killed in its first milliseconds,
      // or from a start running right now. The age check spares the second kind.
      const ageMilliseconds = Date.now() - (fs.statSync(directory, {throwIfNoEntry: false})?.mtimeMs ?? 0)
      if (!owner && ageMilliseconds < 60_000) continue

      log(`Removing stale test server ${directory}`)
      tearDownServerDirectory(directory)
    }
  }

  if (!fs.existsSync(cacheDirectory) || isBuildLockHeld()) return
  for (const entry of fs.readdirSync(cacheDirectory)) {
    if (!entry.startsWith('build-') || entry.endsWith('.log')) continue
    log(`Removing unfinished root filesystem build ${path.join(cacheDirectory, entry)}`)
    killProcessesRootedAt(path.join(cacheDirectory, entry))
    removeTreeSafely(path.join(cacheDirectory, entry))
  }
}

/**
 * Deletes cached root filesystems of older recipes that no overlay mount uses any more.
 */
export function pruneOldRootfs(log: (line: string) => void = () => {}): void {
  if (!fs.existsSync(cacheDirectory)) return
  const current = path.basename(cachedRootfsPath())
  const mountInfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  for (const entry of fs.readdirSync(cacheDirectory)) {
    if (!entry.startsWith('rootfs-') || entry === current) continue
    const directory = path.join(cacheDirectory, entry)
    if (mountInfo.includes(directory)) continue
    log(`Removing root filesystem of an older recipe: ${directory}`)
    removeTreeSafely(directory)
  }
}

// ---------------------------------------------------------------------------------------------
// Paths inside the server
// ---------------------------------------------------------------------------------------------

/**
 * Maps an absolute path inside the server to a path on this machine, following symlinks the way
 * the chroot would: an absolute link target such as /var/run -> /run stays inside the root
 * instead of pointing at this machine's /run.
 */
function resolveInside(root: string, insidePath: string): string {
  if (!insidePath.startsWith('/')) {
    throw new Error(`Path inside the test server must be absolute, got "${insidePath}".`)
  }

  const pending = insidePath.split('/').filter((part) => part !== '' && part !== '.')
  const resolved: string[] = []
  let symlinksFollowed = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '..') {
      resolved.pop()
      continue
    }

    const candidate = path.join(root, ...resolved, part)
    let target: string | undefined
    try {
      target = fs.readlinkSync(candidate)
    } catch {
      // Not a symlink, or missing: use the name as it is.
    }

    if (target === undefined) {
      resolved.push(part)
      continue
    }

    symlinksFollowed += 1
    if (symlinksFollowed > 40) throw new Error(`Too many levels of symbolic links in ${insidePath} inside the test server.`)
    if (target.startsWith('/')) resolved.length = 0
    pending.unshift(...target.split('/').filter((item) => item !== '' && item !== '.'))
  }

  return path.join(root, ...resolved)
}

interface AccountEntry {
  name: string
  id: number
  primaryGroupId: number
  home: string
}

function readAccounts(file: string): AccountEntry[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes(':'))
    .map((line) => {
      const fields = line.split(':')
      return {name: fields[0]!, id: Number(fields[2]), primaryGroupId: Number(fields[3]), home: fields[5] ?? '/'}
    })
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

export interface ExecInServerOptions {
  stdin?: string | Buffer
  /** Account to run as (through runuser). Default: root. */
  user?: string
  /**
   * Extra environment variables. Otherwise the command gets only PATH, HOME, USER, LOGNAME and
   * LANG. They are passed as `env` arguments, visible in the process list, so never a secret.
   */
  env?: Record<string, string>
}

export interface WriteInServerOptions {
  /** Permission bits. Default: 0o644. */
  mode?: number
  /** Owner account name inside the server. Default: root. */
  owner?: string
  /** Group name inside the server. Default: the owner's primary group. */
  group?: string
}

export interface TestServer {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly rootUser: 'root'
  /** Normal user with passwordless sudo (NOPASSWD:ALL). */
  readonly sudoUser: 'admin'
  /** Normal user in the sudo group whose sudo requires a password. */
  readonly passwordSudoUser: 'pwuser'
  /** File (mode 0600) holding the password of passwordSudoUser, new on every start. */
  readonly passwordSudoUserPasswordFile: string
  /** Private key (mode 0600) authorized for root, admin and pwuser. */
  readonly identityFile: string
  /** known_hosts file with this server's host key for [127.0.0.1]:port. */
  readonly knownHostsFile: string
  /** The server's root directory as seen from this machine (the overlay's merged directory). */
  readonly rootfs: string
  /** Per-server directory that contains the overlay layers, keys and sshd.log. */
  readonly directory: string
  /** PID of the sshd listener, on this machine. */
  readonly sshdPid: number
  /** Milliseconds from the start call until the server accepted an SSH login. */
  readonly startDurationMs: number

  /** Returns the argv of the real ssh client for a user, ready for a remote command to be appended. */
  sshArgs(user: string): string[]
  /** Runs a command over SSH with the real ssh client. The command is one shell string, as ssh sends it. */
  ssh(user: string, command: string, options?: {stdin?: string | Buffer}): Promise<CommandResult>
  /** Runs a command inside the server directly (chroot, plus runuser for other users). Never throws on a non-zero exit status. */
  exec(argv: readonly string[], options?: ExecInServerOptions): Promise<CommandResult>
  /** Writes a file inside the server, creating missing parent directories (owned by root, mode 0755). */
  writeFile(insidePath: string, content: string | Buffer, options?: WriteInServerOptions): Promise<void>
  /** Reads a file inside the server as UTF-8 text. */
  readFile(insidePath: string): Promise<string>
  /** Maps an absolute path inside the server to the path on this machine. */
  pathOnHost(insidePath: string): string
  /** Kills every process in the server, unmounts its filesystems and deletes its directory. Safe to call twice. */
  stop(): Promise<void>
}

export interface TestServerOptions {
  /** Port for sshd on 127.0.0.1. Default: a free port picked by the kernel. */
  port?: number
  /** Lines appended to the generated sshd_config (for example `SetEnv PATH=...`). */
  sshdConfigExtra?: string
  /** Progress messages, such as the root filesystem build. */
  log?: (line: string) => void
}

/** Asks the kernel for a free port on 127.0.0.1 by binding port 0 and releasing it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })
}

function generateKeyPair(file: string, comment: string): string {
  runCommandSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])
  return fs.readFileSync(`${file}.pub`, 'utf8').trim()
}

function mountServerFilesystems(lower: string, directory: string): string {
  const upper = path.join(directory, 'upper')
  const work = path.join(directory, 'work')
  const merged = path.join(directory, 'merged')
  for (const folder of [upper, work, merged]) fs.mkdirSync(folder)

  runCommandSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged])
  runCommandSync('mount', ['-t', 'proc', 'proc', path.join(merged, 'proc')])
  runCommandSync('mount', ['-t', 'sysfs', 'sysfs', path.join(merged, 'sys')])
  runCommandSync('mount', ['--bind', '/dev', path.join(merged, 'dev')])
  runCommandSync('mount', ['--bind', '/dev/pts', path.join(merged, 'dev/pts')])
  return merged
}

function sshdConfig(port: number, extra: string | undefined): string {
  return [
    '# Written by the mispwazuh test server at start; the port changes on every start.',
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'PidFile /run/sshd.pid',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM yes',
    'PrintMotd no',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp internal-sftp',
    extra ?? '',
    '',
  ].join('\n')
}

/**
 * Starts a test server: an overlay copy of the cached root filesystem with fresh host and client
 * keys, and sshd on a loopback port. Resolves once root can log in with the real ssh client.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const started = Date.now()
  const log = options.log ?? (() => {})
  const lower = (await ensureRootfs(log)).path

  installExitHandlers()
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `${serverDirectoryPrefix}${process.pid}-`))
  liveServerDirectories.add(directory)
  fs.writeFileSync(path.join(directory, 'owner.json'), JSON.stringify(currentProcessIdentity()))

  try {
    return await startInDirectory(directory, lower, options, started)
  } catch (error) {
    tearDownServerDirectory(directory)
    throw error
  }
}

async function startInDirectory(directory: string, lower: string, options: TestServerOptions, started: number): Promise<TestServer> {
  const merged = mountServerFilesystems(lower, directory)

  const hostPublicKey = generateKeyPair(path.join(directory, 'host_ed25519'), 'mispwazuh-test-server-host')
  const identityFile = path.join(directory, 'client_ed25519')
  const clientPublicKey = generateKeyPair(identityFile, 'mispwazuh-test-server-client')
  const knownHostsFile = path.join(directory, 'known_hosts')
  const passwordFile = path.join(directory, 'pwuser-password')

  const server = createServerHandle({directory, merged, identityFile, knownHostsFile, passwordFile, started})
  await prepareAccounts(server, clientPublicKey, passwordFile)
  await server.writeFile('/etc/ssh/ssh_host_ed25519_key', fs.readFileSync(path.join(directory, 'host_ed25519')), {mode: 0o600})
  await server.writeFile('/etc/ssh/ssh_host_ed25519_key.pub', `${hostPublicKey}\n`)
  fs.mkdirSync(path.join(merged, 'run/sshd'), {recursive: true, mode: 0o755})

  // The chroot shares this machine's hostname, and sudo prints "unable to resolve host" on
  // every call when /etc/hosts does not list it.
  await server.writeFile('/etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${os.hostname()}\n::1\tlocalhost ip6-localhost ip6-loopback\n`)

  const maxAttempts = options.port === undefined ? 5 : 1
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort())
    const [keyType, keyData] = hostPublicKey.split(' ')
    fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${keyType} ${keyData}\n`)
    await server.writeFile('/etc/ssh/sshd_config', sshdConfig(port, options.sshdConfigExtra))

    const outcome = await startSshd(server, port)
    if (outcome === 'ready') return server.finishStart(port)
    if (outcome === 'address-in-use' && attempt < maxAttempts) continue

    const sshdLog = fs.readFileSync(path.join(directory, 'sshd.log'), 'utf8').trim()
    const reason = outcome === 'address-in-use' ? `port ${port} is in use` : 'sshd did not accept a login'
    throw new Error(`Test server failed to start: ${reason}. sshd log:\n${sshdLog}`)
  }
}

async function prepareAccounts(server: ServerHandle, clientPublicKey: string, passwordFile: string): Promise<void> {
  for (const user of ['root', 'admin', 'pwuser']) {
    const account = server.account(user)
    const sshDirectory = `${account.home}/.ssh`
    await server.mkdirOwned(sshDirectory, user, 0o700)
    await server.writeFile(`${sshDirectory}/authorized_keys`, `${clientPublicKey}\n`, {mode: 0o600, owner: user})
  }

  // useradd leaves pwuser without a usable password. A fresh random one per start lets a test
  // feed it to `sudo -S` and see the password path succeed.
  const password = randomBytes(18).toString('base64url')
  fs.writeFileSync(passwordFile, `${password}\n`, {mode: 0o600})
  const result = await server.exec(['chpasswd'], {stdin: `pwuser:${password}\n`})
  if (result.exitCode !== 0) throw new Error(`chpasswd for pwuser failed: ${result.stderr.trim()}`)
}

type SshdOutcome = 'ready' | 'address-in-use' | 'failed'

async function startSshd(server: ServerHandle, port: number): Promise<SshdOutcome> {
  const logPath = path.join(server.directory, 'sshd.log')
  const logFd = fs.openSync(logPath, 'w')
  // With --pdeathsig, the kernel stops sshd when this process dies without cleaning up, so no
  // orphaned listener stays on the port. The next run removes the mounts.
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'SIGTERM', 'chroot', server.rootfs, '/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config'],
    {stdio: ['ignore', logFd, logFd], env: {PATH: chrootPath, LANG: 'C.UTF-8'}},
  )
  fs.closeSync(logFd)
  child.unref()

  let exited = false
  child.on('exit', () => {
    exited = true
  })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  server.sshdPid = child.pid!

  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (exited) break
    const result = await runCommand('ssh', [...server.sshArgsForPort('root', port), '-o', 'ConnectTimeout=5', 'true'])
    if (result.exitCode === 0) return 'ready'
    await sleep(30)
  }

  if (!exited) child.kill('SIGKILL')
  await sleep(50)
  return /Address already in use/.test(fs.readFileSync(logPath, 'utf8')) ? 'address-in-use' : 'failed'
}

interface ServerPaths {
  directory: string
  merged: string
  identityFile: string
  knownHostsFile: string
  passwordFile: string
  started: number
}

type ServerHandle = ReturnType<typeof createServerHandle>

function createServerHandle(paths: ServerPaths) {
  const {directory, merged, identityFile, knownHostsFile, passwordFile, started} = paths
  let stopped = false

  const account = (name: string): AccountEntry => {
    const entry = readAccounts(path.join(merged, 'etc/passwd')).find((candidate) => candidate.name === name)
    if (!entry) throw new Error(`User "${name}" not found in the test server's /etc/passwd.`)
    return entry
  }

  const groupId = (name: string): number => {
    const entry = readAccounts(path.join(merged, 'etc/group')).find((candidate) => candidate.name === name)
    if (!entry) throw new Error(`Group "${name}" not found in the test server's /etc/group.`)
    return entry.id
  }

  // Arguments for the ssh client after the program name, ending with the destination.
  const sshArgsForPort = (user: string, port: number): string[] => [
    '-F', '/dev/null',
    '-i', identityFile,
    '-p', String(port),
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    `${user}@127.0.0.1`,
  ]

  const handle = {
    directory,
    rootfs: merged,
    sshdPid: 0,
    account,
    sshArgsForPort,

    pathOnHost(insidePath: string): string {
      return resolveInside(merged, insidePath)
    },

    async mkdirOwned(insidePath: string, owner: string, mode: number): Promise<void> {
      const hostPath = resolveInside(merged, insidePath)
      fs.mkdirSync(hostPath, {recursive: true})
      const entry = account(owner)
      fs.chownSync(hostPath, entry.id, entry.primaryGroupId)
      fs.chmodSync(hostPath, mode)
    },

    async exec(argv: readonly string[], options: ExecInServerOptions = {}): Promise<CommandResult> {
      if (argv.length === 0) throw new Error('exec needs a command: argv is empty.')
      const user = options.user ?? 'root'
      const entry = account(user)
      const environment = [
        `PATH=${chrootPath}`,
        `HOME=${entry.home}`,
        `USER=${user}`,
        `LOGNAME=${user}`,
        'LANG=C.UTF-8',
        ...Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
      ]
      const switchUser = user === 'root' ? [] : ['/usr/sbin/runuser', '-u', user, '--']
      return runCommand('chroot', [merged, '/usr/bin/env', '-i', ...environment, ...switchUser, ...argv], {stdin: options.stdin})
    },

    async writeFile(insidePath: string, content: string | Buffer, options: WriteInServerOptions = {}): Promise<void> {
      const hostPath = resolveInside(merged, insidePath)
      fs.mkdirSync(path.dirname(hostPath), {recursive: true, mode: 0o755})

      const owner = account(options.owner ?? 'root')
      const gid = options.group === undefined ? owner.primaryGroupId : groupId(options.group)
      const temporary = `${hostPath}.tmp-${randomBytes(4).toString('hex')}`
      try {
        fs.writeFileSync(temporary, content, {mode: 0o600})
        fs.chownSync(temporary, owner.id, gid)
        fs.chmodSync(temporary, options.mode ?? 0o644)
        fs.renameSync(temporary, hostPath)
      } finally {
        fs.rmSync(temporary, {force: true})
      }
    },

    async readFile(insidePath: string): Promise<string> {
      return fs.readFileSync(resolveInside(merged, insidePath), 'utf8')
    },

    finishStart(port: number): TestServer {
      const server: TestServer = {
        host: '127.0.0.1',
        port,
        rootUser: 'root',
        sudoUser: 'admin',
        passwordSudoUser: 'pwuser',
        passwordSudoUserPasswordFile: passwordFile,
        identityFile,
        knownHostsFile,
        rootfs: merged,
        directory,
        sshdPid: handle.sshdPid,
        startDurationMs: Date.now() - started,
        sshArgs: (user) => ['ssh', ...sshArgsForPort(user, port)],
        ssh: (user, command, options = {}) => runCommand('ssh', [...sshArgsForPort(user, port), '--', command], {stdin: options.stdin}),
        exec: handle.exec,
        writeFile: handle.writeFile,
        readFile: handle.readFile,
        pathOnHost: handle.pathOnHost,
        async stop() {
          if (stopped) return
          stopped = true
          tearDownServerDirectory(directory)
        },
      }
      return server
    },
  }

  return handle
}

/**
 * Starts one test server for the current vitest file (beforeAll) and stops it afterwards
 * (afterAll). Returns a getter, because the server exists only once beforeAll has run.
 */
export function useTestServer(options: TestServerOptions = {}): () => TestServer {
  let server: TestServer | undefined

  beforeAll(async () => {
    server = await startTestServer(options)
  })

  afterAll(async () => {
    await server?.stop()
    server = undefined
  })

  return () => {
    if (!server) throw new Error('The test server is not running: call the getter inside a test or a hook, after beforeAll.')
    return server
  }
}
