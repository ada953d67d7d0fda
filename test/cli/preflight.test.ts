import {cpus} from 'node:os'

import {describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {judgePreflight, parseListeningPorts, type PreflightFacts} from '../../src/steps/preflight.js'
import {hostFlags, runCli} from '../support/cli.js'
import {useTestServer} from '../support/test-server.js'

const FACT_KEYS = ['cpuCores', 'diskFreeBytes', 'docker', 'listeningPorts', 'memoryBytes', 'mispDocker', 'os', 'timeSynchronized', 'user', 'wazuhManager']

describe('preflight on the test server', () => {
  const server = useTestServer()

  it('reports Debian 12 and real resources', async () => {
    const result = await runCli(['preflight', ...hostFlags(server()), '--json'])
    expect(result.exitCode).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(Object.keys(report).sort()).toEqual(['blocking', 'facts', 'items', 'target', 'warnings'])
    expect(Object.keys(report.facts).sort()).toEqual(FACT_KEYS)
    expect(report.target).toBe(`root@127.0.0.1:${server().port}`)
    expect(report.facts.os).toMatchObject({id: 'debian', versionId: '12'})
    expect(report.facts.cpuCores).toBe(cpus().length)
    expect(report.facts.memoryBytes).toBeGreaterThan(1e9)
    expect(report.facts.diskFreeBytes.var).toBeGreaterThan(0)
    expect(report.facts.user.effectiveUid).toBe(0)
    expect(report.facts.docker).toEqual({})
    expect(report.facts.wazuhManager).toBeNull()
    expect(report.facts.timeSynchronized).toBeNull()
    for (const item of report.items) {
      expect(Object.keys(item)).toEqual(expect.arrayContaining(['id', 'title', 'verdict', 'found']))
      expect(['ok', 'warn', 'blocking']).toContain(item.verdict)
    }

    expect(report.items.find((item: {id: string}) => item.id === 'os').verdict).toBe('ok')
  })

  it('reports a port opened inside the server as busy', async () => {
    const listener = await server().exec(['sh', '-c', 'setsid python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\'127.0.0.1\', 1515)); s.listen(); time.sleep(120)" >/dev/null 2>&1 & echo $!'])
    const pid = listener.stdout.trim()
    try {
      await waitForPort(server, 1515)
      const result = await runCli(['preflight', ...hostFlags(server(), 'admin')])
      expect(result.exitCode).toBe(ExitCode.requirementsNotMet)
      expect(result.stdout).toMatch(/BLOCKING\s+Port 1515 \(Wazuh agent enrollment\)\s+in use/)
      expect(result.stdout).toMatch(/fix: Find it with `ss -ltnp 'sport = :1515'`/)
      expect(result.stdout).toMatch(/Privileges\s+admin with sudo/)
      expect(result.stdout).toMatch(/^Verdict: 1 blocking/m)
    } finally {
      await server().exec(['kill', pid])
    }
  })

  it('blocks on too little disk unless told to ignore it', async () => {
    const mount = await server().exec(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', '/var'])
    expect(mount.exitCode).toBe(0)
    try {
      const blocked = await runCli(['preflight', ...hostFlags(server()), '--json'])
      expect(blocked.exitCode).toBe(ExitCode.requirementsNotMet)
      const report = JSON.parse(blocked.stdout)
      const disk = report.items.find((item: {id: string}) => item.id === 'disk-var')
      expect(disk.verdict).toBe('blocking')
      expect(disk.fix).toMatch(/--ignore-requirements/)
      expect(report.blocking).toBe(1)

      const ignored = await runCli(['preflight', ...hostFlags(server()), '--json', '--ignore-requirements'])
      expect(ignored.exitCode).toBe(0)
      expect(JSON.parse(ignored.stdout).items.find((item: {id: string}) => item.id === 'disk-var').verdict).toBe('warn')
    } finally {
      await server().exec(['umount', '/var'])
    }
  })
})

describe('preflight verdicts', () => {
  const facts: PreflightFacts = {
    os: {id: 'ubuntu', versionId: '24.04', prettyName: 'Ubuntu 24.04.1 LTS'},
    cpuCores: 8,
    memoryBytes: 16e9,
    diskFreeBytes: {root: 200e9, var: 200e9},
    user: {login: 'root', effectiveUid: 0, viaSudo: false},
    listeningPorts: [22, 443],
    docker: {engine: '27.3.1', compose: '2.29.7'},
    mispDocker: false,
    wazuhManager: null,
    timeSynchronized: true,
  }
  const options = {mispHttpPort: 8080, mispHttpsPort: 8443, wazuhDashboardPort: 443, mispDockerDir: '/opt/misp-docker'}

  it('blocks a busy dashboard port and names the flag', () => {
    const report = judgePreflight('local', facts, options)
    const item = report.items.find((entry) => entry.id === 'port-443')
    expect(item?.verdict).toBe('blocking')
    expect(item?.fix).toMatch(/--wazuh-dashboard-port/)
  })

  it('accepts Wazuh ports in use by an installed manager', () => {
    const report = judgePreflight('local', {...facts, listeningPorts: [1514, 1515, 55000], wazuhManager: {version: '4.12.0'}}, options)
    expect(report.blocking).toBe(0)
  })

  it('blocks an unsupported OS and small memory', () => {
    const report = judgePreflight('local', {...facts, os: {id: 'centos', versionId: '7', prettyName: 'CentOS Linux 7'}, memoryBytes: 2e9, listeningPorts: []}, options)
    expect(report.items.find((entry) => entry.id === 'os')?.verdict).toBe('blocking')
    expect(report.items.find((entry) => entry.id === 'memory')?.verdict).toBe('blocking')
    expect(report.blocking).toBe(2)
  })

  it('warns below the recommended size', () => {
    const report = judgePreflight('local', {...facts, cpuCores: 2, listeningPorts: []}, options)
    expect(report.items.find((entry) => entry.id === 'cpu')?.verdict).toBe('warn')
    expect(report.blocking).toBe(0)
  })

  it('warns on an old Docker and an old manager', () => {
    const report = judgePreflight('local', {...facts, listeningPorts: [], docker: {engine: '24.0.7', compose: '2.21.0'}, wazuhManager: {version: '4.5.4'}}, options)
    expect(report.items.find((entry) => entry.id === 'docker')?.verdict).toBe('warn')
    expect(report.items.find((entry) => entry.id === 'wazuh-manager')?.verdict).toBe('warn')
  })

  it('parses listening ports from /proc/net/tcp', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:05EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:0016 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
      '   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1',
    ].join('\n')
    expect(parseListeningPorts(text)).toEqual([443, 1515])
  })
})

async function waitForPort(server: () => {exec: (argv: string[]) => Promise<{stdout: string}>}, port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const tcp = await server().exec(['cat', '/proc/net/tcp'])
    if (parseListeningPorts(tcp.stdout).includes(port)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new Error(`port ${port} never listened`)
}
