/**
 * setup with bad input or an unfit host: each case stops before anything on the host changes,
 * with the reason and the fix.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {hostFlags, runCli} from '../support/cli.js'
import {freePort, prepareSetupLab, type SetupLab} from '../support/setup-lab.js'
import {useTestServer} from '../support/test-server.js'
import {managedFileStats} from './support.js'

const server = useTestServer()
let lab: SetupLab
let untouched: Map<string, string>

beforeAll(async () => {
  lab = await prepareSetupLab(server())
  untouched = await managedFileStats(server())
})

afterAll(async () => {
  await lab?.stop()
})

async function expectNothingChanged(): Promise<void> {
  expect(await managedFileStats(server())).toEqual(untouched)
  for (const directory of ['/opt/misp-docker', '/var/ossec', '/etc/mispwazuh']) {
    expect((await server().exec(['test', '-e', directory])).exitCode, `${directory} exists`).toBe(1)
  }

  expect(lab.docker.calls().filter((call) => !/\tversion|compose version/.test(call))).toEqual([])
}

describe('setup stops before changing anything', () => {
  it('on an unreachable host', async () => {
    const result = await runCli(['setup', '--host', `root@127.0.0.1:${await freePort()}`, '--identity', server().identityFile, '--known-hosts', server().knownHostsFile, ...lab.setupFlags])
    expect(result.exitCode).toBe(ExitCode.connectionFailed)
    expect(result.stderr).toMatch(/Error: Could not connect to root@127\.0\.0\.1:\d+: connection refused\./)
    expect(result.stderr).toMatch(/Fix: Check the address and port/)
  })

  it('with a key the host refuses', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'mispwazuh-key-'))
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(directory, 'id_ed25519')])
    const result = await runCli(['setup', ...hostFlags({...server(), identityFile: path.join(directory, 'id_ed25519')}), ...lab.setupFlags])
    expect(result.exitCode).toBe(ExitCode.authenticationFailed)
    expect(result.stderr).toMatch(/the server refused the key/)
    await expectNothingChanged()
  })

  it('on an unsupported OS', async () => {
    const original = await server().readFile('/etc/os-release')
    await server().exec(['rm', '-f', '/etc/os-release'])
    await server().writeFile('/etc/os-release', 'PRETTY_NAME="Ubuntu 20.04.6 LTS"\nNAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\n')
    try {
      const result = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
      expect(result.exitCode).toBe(ExitCode.requirementsNotMet)
      expect(result.stdout).toMatch(/Operating system: Ubuntu 20\.04\.6 LTS\. Supported: Ubuntu 22\.04 and 24\.04, Debian 12/)
      expect(result.stdout).toMatch(/Setup stopped at "Preflight checks"/)
      await expectNothingChanged()
    } finally {
      await server().writeFile('/etc/os-release', original)
    }
  })

  it('with too little memory', async () => {
    const fake = path.join(mkdtempSync(path.join(tmpdir(), 'mispwazuh-meminfo-')), 'meminfo')
    writeFileSync(fake, 'MemTotal:        2048000 kB\nMemFree:         1024000 kB\n')
    execFileSync('mount', ['--bind', fake, server().pathOnHost('/proc/meminfo')])
    try {
      const result = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
      expect(result.exitCode).toBe(ExitCode.requirementsNotMet)
      expect(result.stdout).toMatch(/Memory: 2\.0 GiB\. Below the minimum/)
      expect(result.stdout).toMatch(/--ignore-requirements/)
      await expectNothingChanged()
    } finally {
      execFileSync('umount', [server().pathOnHost('/proc/meminfo')])
    }
  })

  it('with a port already taken', async () => {
    const listener = await server().exec(['sh', '-c', 'setsid python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\'127.0.0.1\', 1514)); s.listen(); time.sleep(120)" >/dev/null 2>&1 & echo $!'])
    try {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const result = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags, '--json'])
      expect(result.exitCode).toBe(ExitCode.requirementsNotMet)
      const report = JSON.parse(result.stdout)
      expect(report.failed.id).toBe('preflight')
      expect(report.failed.error.message).toMatch(/Port 1514 \(Wazuh agent connections\): in use/)
      expect(report.steps.slice(1).every((step: {status: string}) => step.status === 'pending')).toBe(true)
      await expectNothingChanged()
    } finally {
      await server().exec(['kill', listener.stdout.trim()])
    }
  })

  it('on MISP ports that clash with Wazuh', async () => {
    const result = await runCli(['setup', ...hostFlags(server()), '--misp-https-port', '443', '--misp-http-port', '55000', '--wazuh-dashboard-port', '443', '--dry-run'])
    expect(result.exitCode).toBe(ExitCode.invalidInput)
    expect(result.stderr).toMatch(/--misp-http-port 55000 is the port of Wazuh server API on the same host/)
    expect(result.stderr).toMatch(/--misp-https-port 443 is the port of the Wazuh dashboard/)
    await expectNothingChanged()
  })

  it('on an invalid flag value', async () => {
    const result = await runCli(['setup', ...hostFlags(server()), '--misp-https-port', '0', '--wazuh-version', '5.0'])
    expect(result.exitCode).toBe(ExitCode.invalidInput)
    expect(result.stderr).toMatch(/Invalid value "0" for --misp-https-port/)
    expect(result.stderr).toMatch(/Invalid value "5\.0" for --wazuh-version/)
    await expectNothingChanged()
  })
})
