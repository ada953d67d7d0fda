import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CommandFailedError, MispwazuhError} from '../../src/errors.js'
import {LocalTarget} from '../../src/target/local-target.js'
import {SshTarget} from '../../src/target/ssh-target.js'
import type {Target} from '../../src/target/target.js'
import {useTestServer} from '../support/test-server.js'

const ODD_ARGUMENTS = ['with space', "single ' quote", 'double " quote', '$HOME and $(id) and `id`', 'back\\slash\\\\', 'new\nline', '', '*', '-n', 'tab\there', 'ünïcödé']

/**
 * One contract for every Target: the same cases run on LocalTarget in a temp directory and on
 * SshTarget against the Debian test server, as root and as a sudo user.
 */
function targetContract(name: string, open: () => Promise<{target: Target; directory: string; cleanup: () => Promise<void>}>) {
  describe(name, () => {
    let target: Target
    let directory: string
    let cleanup: () => Promise<void>

    beforeAll(async () => {
      ;({target, directory, cleanup} = await open())
    })

    afterAll(async () => {
      await cleanup?.()
    })

    it('passes odd arguments intact', async () => {
      const result = await target.exec(['python3', '-c', 'import json, sys; print(json.dumps(sys.argv[1:]))', ...ODD_ARGUMENTS])
      expect(JSON.parse(result.stdout)).toEqual(ODD_ARGUMENTS)
    })

    it('keeps exit status, stdout and stderr apart', async () => {
      const result = await target.exec(['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'], {allowExitCodes: 'any'})
      expect(result.exitCode).toBe(3)
      expect(result.stdout).toBe('to-out\n')
      expect(result.stderr).toBe('to-err\n')
    })

    it('throws on a disallowed exit status', async () => {
      const failure = await target.exec(['sh', '-c', 'echo broken >&2; exit 4']).catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(CommandFailedError)
      expect((failure as CommandFailedError).exitStatus).toBe(4)
      expect((failure as CommandFailedError).message).toContain('broken')
    })

    it('feeds stdin byte for byte', async () => {
      const secret = `line one\nsecret ${randomBytes(8).toString('hex')} $x 'q'\n`
      const result = await target.exec(['cat'], {stdin: secret})
      expect(result.stdout).toBe(secret)
    })

    it('passes env and cwd', async () => {
      const result = await target.exec(['sh', '-c', 'printf "%s|%s" "$MISPWAZUH_TEST_VALUE" "$(pwd)"'], {env: {MISPWAZUH_TEST_VALUE: 'a b $c'}, cwd: directory})
      expect(result.stdout).toBe(`a b $c|${directory}`)
    })

    it('returns 10 MB of output intact', async () => {
      const result = await target.exec(['python3', '-c', 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 40960)'])
      const expected = Buffer.alloc(256 * 40_960)
      for (let index = 0; index < expected.length; index++) expected[index] = index % 256
      expect(result.stdoutBuffer.length).toBe(expected.length)
      expect(result.stdoutBuffer.equals(expected)).toBe(true)
    })

    it('round-trips a binary file', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17)
      const file = `${directory}/binary.bin`
      await target.writeFile(file, data)
      expect((await target.readFile(file)).equals(data)).toBe(true)
      expect((await target.stat(file))?.size).toBe(data.length)
    })

    it('keeps a file without a final newline exact', async () => {
      const file = `${directory}/no-newline.txt`
      await target.writeFile(file, '  leading and trailing spaces  ')
      expect(await target.readText(file)).toBe('  leading and trailing spaces  ')
    })

    it('sets mode and owner on write', async () => {
      const file = `${directory}/owned.conf`
      await target.writeFile(file, 'value\n', {mode: 0o640, owner: 'nobody', group: 'nogroup'})
      const stat = await target.stat(file)
      expect(stat?.type).toBe('file')
      expect(stat?.mode).toBe(0o640)
      expect(stat?.owner).toBe('nobody')
      expect(stat?.group).toBe('nogroup')
    })

    it('keeps mode and owner of a replaced file', async () => {
      const file = `${directory}/kept.conf`
      await target.writeFile(file, 'old\n', {mode: 0o600, owner: 'nobody', group: 'nogroup'})
      await target.writeFile(file, 'new\n')
      const stat = await target.stat(file)
      expect(stat?.mode).toBe(0o600)
      expect(stat?.owner).toBe('nobody')
      expect(await target.readText(file)).toBe('new\n')
    })

    it('backs up the old file with its owner and mode', async () => {
      const file = `${directory}/backed-up.conf`
      await target.writeFile(file, 'first\n', {mode: 0o660, owner: 'root', group: 'nogroup'})
      const result = await target.writeFile(file, 'second\n', {backup: true})
      expect(result.backupPath).toMatch(/backed-up\.conf\.mispwazuh-\d{8}T\d{9}Z$/)
      expect(await target.readText(result.backupPath!)).toBe('first\n')
      const stat = await target.stat(result.backupPath!)
      expect(stat?.mode).toBe(0o660)
      expect(stat?.group).toBe('nogroup')
      expect(await target.readText(file)).toBe('second\n')
    })

    it('leaves no temp file after writes', async () => {
      const listing = await target.exec(['ls', '-A', directory])
      expect(listing.stdout).not.toMatch(/mispwazuh-tmp/)
    })

    it('creates, changes and removes directories', async () => {
      const folder = `${directory}/a/b/c`
      await target.mkdir(folder, {mode: 0o750, owner: 'nobody', group: 'nogroup'})
      let stat = await target.stat(folder)
      expect(stat?.type).toBe('directory')
      expect(stat?.mode).toBe(0o750)
      expect(stat?.owner).toBe('nobody')
      await target.chmod(folder, 0o700)
      await target.chown(folder, 'root', 'root')
      stat = await target.stat(folder)
      expect(stat?.mode).toBe(0o700)
      expect(stat?.owner).toBe('root')
      await target.remove(`${directory}/a`, {recursive: true})
      expect(await target.exists(folder)).toBe(false)
    })

    it('reports a missing file clearly', async () => {
      expect(await target.stat(`${directory}/missing`)).toBeUndefined()
      const failure = await target.readFile(`${directory}/missing`).catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(MispwazuhError)
      expect((failure as MispwazuhError).code).toBe('file_not_found')
    })

    it('reports a write into a missing directory', async () => {
      const failure = await target.writeFile(`${directory}/no/such/dir/file`, 'x').catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(MispwazuhError)
      expect((failure as MispwazuhError).code).toBe('write_failed')
    })

    it('times out a hanging command', async () => {
      const failure = await target.exec(['sleep', '30'], {timeoutMs: 500}).catch((error: unknown) => error)
      expect((failure as MispwazuhError).code).toBe('command_timeout')
    })
  })
}

targetContract('LocalTarget', async () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'mispwazuh-local-target-'))
  return {target: new LocalTarget(), directory, cleanup: async () => rmSync(directory, {recursive: true, force: true})}
})

describe('SshTarget', () => {
  const server = useTestServer()

  for (const user of ['root', 'admin']) {
    targetContract(`as ${user}`, async () => {
      const target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user, identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})
      const directory = `/srv/contract-${user}`
      await target.mkdir(directory)
      return {target, directory, cleanup: () => target.close()}
    })
  }

  it('uses sudo for a non-root user', async () => {
    const target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'admin', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})
    try {
      expect(target.useSudo).toBe(true)
      expect((await target.exec(['id', '-un'])).stdout.trim()).toBe('root')
    } finally {
      await target.close()
    }
  })

  it('keeps the old file when the connection drops mid-write', async () => {
    const file = '/srv/interrupted.conf'
    await server().writeFile(file, 'original content\n', {mode: 0o640})
    const target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})

    const write = target.writeFile(file, randomBytes(64 * 1024 * 1024)).catch((error: unknown) => error)
    await waitFor(async () => (await server().exec(['sh', '-c', 'ls -A /srv | grep -c mispwazuh-tmp || true'])).stdout.trim() !== '0', 10_000)
    target.destroyConnection()
    const failure = await write
    expect(failure).toBeInstanceOf(MispwazuhError)

    await waitFor(async () => (await server().exec(['sh', '-c', 'ls -A /srv | grep -c mispwazuh-tmp || true'])).stdout.trim() === '0', 10_000)
    expect(await server().readFile(file)).toBe('original content\n')
    expect((await server().exec(['ls', '-A', '/srv'])).stdout).not.toMatch(/mispwazuh-tmp/)
  })
})

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new Error(`condition not met within ${timeoutMs} ms`)
}
