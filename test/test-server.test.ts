import {execFileSync, spawn} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {
  cleanStaleTestServers,
  mountsUnder,
  processesRootedAt,
  startTestServer,
  useTestServer,
  type TestServer,
} from './support/test-server.js'

const repositoryRoot = path.resolve(import.meta.dirname, '..')
const tsxBinary = path.join(repositoryRoot, 'node_modules/.bin/tsx')

/** Asserts that a stopped server left no mount, no process and no directory behind. */
function expectNothingLeft(directory: string, rootfs: string): void {
  expect(mountsUnder(directory)).toEqual([])
  expect(processesRootedAt(rootfs)).toEqual([])
  expect(fs.existsSync(directory)).toBe(false)
}

/** Resolves with the first stdout line of a child process. */
function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      const newline = buffered.indexOf('\n')
      if (newline >= 0) resolve(buffered.slice(0, newline))
    })
    child.on('exit', (code) => reject(new Error(`exited with ${code} before printing a line; stdout: ${buffered}`)))
  })
}

function exitOf(child: ReturnType<typeof spawn>): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({code: child.exitCode, signal: child.signalCode})
      return
    }

    child.on('exit', (code, signal) => resolve({code, signal}))
  })
}

/** Resolves true once nothing accepts TCP connections on 127.0.0.1:port, false after 3 s. */
async function waitUntilRefused(port: number): Promise<boolean> {
  const deadline = Date.now() + 3000
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('connect', () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('error', () => resolve(true))
    })
    if (refused) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return false
}

describe('test server', () => {
  const server = useTestServer()

  it('accepts root over ssh', async () => {
    const result = await server().ssh('root', 'id -un')

    expect(result.stderr).toBe('')
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toBe('root\n')
  })

  it('accepts admin with passwordless sudo', async () => {
    const whoami = await server().ssh('admin', 'id -un')
    const sudo = await server().ssh('admin', 'sudo -n id -u')

    expect(whoami.stdout).toBe('admin\n')
    expect(sudo.exitCode).toBe(0)
    expect(sudo.stdout).toBe('0\n')
  })

  it('rejects sudo without password for pwuser', async () => {
    const result = await server().ssh('pwuser', 'sudo -n true')

    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('a password is required')
  })

  it('accepts the pwuser password for sudo', async () => {
    const password = fs.readFileSync(server().passwordSudoUserPasswordFile, 'utf8')
    const result = await server().ssh('pwuser', 'sudo -S -p "" id -u', {stdin: password})

    expect(result.exitCode).toBe(0)
    expect(result.stdout).toBe('0\n')
  })

  it('sshArgs runs the real client', async () => {
    const [program, ...args] = server().sshArgs('root')
    const child = spawn(program!, [...args, 'echo', 'from-ssh-args'])
    const line = await firstLine(child)

    expect(program).toBe('ssh')
    expect(args).toContain('StrictHostKeyChecking=yes')
    expect(line).toBe('from-ssh-args')
    expect((await exitOf(child)).code).toBe(0)
  })

  it('rejects a wrong pinned host key', async () => {
    const otherKey = path.join(server().directory, 'other_host_key')
    const otherKnownHosts = path.join(server().directory, 'other_known_hosts')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey])
    const [keyType, keyData] = fs.readFileSync(`${otherKey}.pub`, 'utf8').split(' ')
    fs.writeFileSync(otherKnownHosts, `[127.0.0.1]:${server().port} ${keyType} ${keyData}\n`)
    const args = server().sshArgs('root').slice(1).map((arg) => arg.replace(server().knownHostsFile, otherKnownHosts))
    const child = spawn('ssh', [...args, 'true'])
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))

    expect((await exitOf(child)).code).toBe(255)
    expect(stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED')
  })

  it('writes known_hosts and a private identity file', () => {
    const knownHosts = fs.readFileSync(server().knownHostsFile, 'utf8')

    expect(knownHosts).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${server().port} ssh-ed25519 AAAA\\S+\\n$`))
    expect(fs.statSync(server().identityFile).mode & 0o777).toBe(0o600)
    expect(fs.statSync(server().passwordSudoUserPasswordFile).mode & 0o777).toBe(0o600)
  })

  it('exec reports non-zero exit without throwing', async () => {
    const result = await server().exec(['sh', '-c', 'echo out; echo err >&2; exit 7'])

    expect(result).toEqual({exitCode: 7, stdout: 'out\n', stderr: 'err\n'})
  })

  it('exec runs as another user with stdin', async () => {
    const result = await server().exec(['sh', '-c', 'id -un; cat'], {user: 'admin', stdin: 'piped'})

    expect(result.exitCode).toBe(0)
    expect(result.stdout).toBe('admin\npiped')
  })

  it('writeFile sets owner and mode', async () => {
    await server().writeFile('/home/admin/notes/a.txt', 'hello\n', {mode: 0o640, owner: 'admin', group: 'sudo'})
    const listing = await server().exec(['stat', '-c', '%U %G %a', '/home/admin/notes/a.txt'])

    expect(listing.stdout).toBe('admin sudo 640\n')
    expect(await server().readFile('/home/admin/notes/a.txt')).toBe('hello\n')
  })

  it('writeFile keeps absolute symlinks inside', async () => {
    // In Debian /var/run is a symlink to /run: the write must land in the server's /run.
    await server().writeFile('/var/run/mispwazuh-probe', 'inside\n')

    expect(fs.existsSync('/run/mispwazuh-probe')).toBe(false)
    expect(fs.readFileSync(path.join(server().rootfs, 'run/mispwazuh-probe'), 'utf8')).toBe('inside\n')
  })

  it('writeFile rejects a relative path', async () => {
    await expect(server().writeFile('etc/x', 'x')).rejects.toThrow('must be absolute, got "etc/x"')
  })

  it('has resolv.conf and the Debian mirror for apt', async () => {
    const sources = await server().readFile('/etc/apt/sources.list')

    expect(sources).toContain('http://deb.debian.org/debian bookworm main')
    expect(fs.readFileSync(path.join(server().rootfs, 'etc/resolv.conf'), 'utf8')).toBe(fs.readFileSync('/etc/resolv.conf', 'utf8'))
  })
})

describe('test server lifecycle', () => {
  it('isolates servers from each other', async () => {
    const first = await startTestServer()
    let second: TestServer | undefined
    try {
      await first.ssh('root', 'echo seeded > /etc/mispwazuh-isolation-probe')
      second = await startTestServer()
      const check = await second.ssh('root', 'test -e /etc/mispwazuh-isolation-probe')

      expect(await first.readFile('/etc/mispwazuh-isolation-probe')).toBe('seeded\n')
      expect(check.exitCode).toBe(1)
      expect(second.port).not.toBe(first.port)
    } finally {
      await first.stop()
      await second?.stop()
    }
  })

  it('stop leaves no mounts or processes', async () => {
    const server = await startTestServer()
    // A daemon started inside the server, detached from the ssh session.
    await server.ssh('root', 'setsid sleep 600 </dev/null >/dev/null 2>&1 &')
    await server.exec(['cron'])
    const before = processesRootedAt(server.rootfs)

    expect(before.length).toBeGreaterThanOrEqual(3)
    expect(mountsUnder(server.directory)).toHaveLength(5)
    console.log(`test server start took ${server.startDurationMs} ms`)

    await server.stop()
    expectNothingLeft(server.directory, server.rootfs)
    await server.stop()
  })

  it('cleans up a server of a killed process', async () => {
    const script = `
      import {startTestServer} from ${JSON.stringify(path.join(repositoryRoot, 'test/support/test-server.ts'))}
      const server = await startTestServer()
      await server.exec(['sh', '-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 &'])
      process.stdout.write(JSON.stringify({directory: server.directory, rootfs: server.rootfs, port: server.port}) + '\\n')
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: repositoryRoot})
    const {directory, rootfs, port} = JSON.parse(await firstLine(child)) as {directory: string; rootfs: string; port: number}
    child.kill('SIGKILL')
    await exitOf(child)

    expect(mountsUnder(directory)).toHaveLength(5)
    expect(processesRootedAt(rootfs).length).toBeGreaterThan(0)
    expect(await waitUntilRefused(port)).toBe(true)

    cleanStaleTestServers()
    expectNothingLeft(directory, rootfs)
  })

  it('cli prints login commands and stops on SIGINT', async () => {
    const child = spawn(tsxBinary, ['test/support/test-server-cli.ts'], {cwd: repositoryRoot})
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    await firstLine(child)
    while (!stdout.includes('Press Ctrl+C')) await new Promise((resolve) => setTimeout(resolve, 20))

    const port = /sshd on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]
    const directory = /-i (\S+)\/client_ed25519/.exec(stdout)?.[1]
    expect(port).toBeDefined()
    expect(directory).toBeDefined()
    expect(stdout).toContain(`ssh -i ${directory}/client_ed25519 -o UserKnownHostsFile=${directory}/known_hosts -p ${port} root@127.0.0.1`)
    expect(stdout).toContain(`--host root@127.0.0.1:${port} --identity ${directory}/client_ed25519 --known-hosts ${directory}/known_hosts`)
    expect(stdout).toContain(`--host admin@127.0.0.1:${port} --identity ${directory}/client_ed25519 --known-hosts ${directory}/known_hosts`)

    child.kill('SIGINT')

    expect(await exitOf(child)).toEqual({code: 0, signal: null})
    expectNothingLeft(directory!, `${directory}/merged`)
  })

  it('cli --json prints one line and stops on SIGTERM', async () => {
    // Through npm, as people and scripts start it, so the package.json script is covered too.
    const child = spawn('npm', ['run', '--silent', 'test-server', '--', '--json'], {cwd: repositoryRoot})
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    const summary = JSON.parse(await firstLine(child)) as Record<string, unknown>

    expect(Object.keys(summary).sort()).toEqual(['host', 'identityFile', 'knownHostsFile', 'port', 'rootfs', 'sudoUser', 'user'])
    expect(summary.host).toBe('127.0.0.1')
    expect(summary.user).toBe('root')
    expect(summary.sudoUser).toBe('admin')

    const login = spawn('ssh', [
      '-F', '/dev/null', '-i', String(summary.identityFile), '-p', String(summary.port),
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${String(summary.knownHostsFile)}`, 'admin@127.0.0.1', 'sudo -n id -un',
    ])
    expect(await firstLine(login)).toBe('root')

    child.kill('SIGTERM')
    const exit = await exitOf(child)
    const directory = path.dirname(String(summary.rootfs))

    expect(exit).toEqual({code: 0, signal: null})
    expect(stdout.split('\n').filter((line) => line !== '')).toHaveLength(1)
    expectNothingLeft(directory, String(summary.rootfs))
  })
})
