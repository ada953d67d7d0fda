/**
 * setup from nothing to done on the Debian test server over SSH as root, with the docker and
 * Wazuh stand-ins and the MISP double. Then a second run that changes nothing, and dry runs on
 * the fresh and the converged host.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {hostFlags, runCli, type CliResult} from '../support/cli.js'
import {prepareSetupLab, type SetupLab} from '../support/setup-lab.js'
import {useTestServer} from '../support/test-server.js'
import {managedFileStats, secretsOn, worldReadableFilesContaining} from './support.js'

const server = useTestServer()
let lab: SetupLab
let freshPlan: CliResult
let first: CliResult
let firstJson: {steps: Array<{id: string; status: string}>}
let statsBefore: Map<string, string>
let second: CliResult
let statsAfter: Map<string, string>
let convergedPlan: CliResult

beforeAll(async () => {
  lab = await prepareSetupLab(server())
  const flags = [...hostFlags(server()), ...lab.setupFlags]
  freshPlan = await runCli(['setup', ...flags, '--dry-run'])
  first = await runCli(['setup', ...flags, '--json'])
  firstJson = JSON.parse(first.stdout)
  statsBefore = await managedFileStats(server())
  second = await runCli(['setup', ...flags])
  statsAfter = await managedFileStats(server())
  convergedPlan = await runCli(['setup', ...flags, '--dry-run'])
}, 600_000)

afterAll(async () => {
  await lab?.stop()
})

describe('setup on a fresh server', () => {
  it('dry run exits 2 with the full plan and changes nothing', async () => {
    expect(freshPlan.exitCode).toBe(ExitCode.changesPending)
    expect(freshPlan.stdout).toMatch(/^Plan for root@127\.0\.0\.1:\d+:/)
    for (const title of ['Preflight checks', 'misp-docker', 'TLS certificate for MISP', 'Start MISP', 'MISP feeds', 'MISP warninglists', 'auth key for Wazuh', 'refresh job', 'Wazuh all-in-one install', 'custom-misp integration', 'Wazuh manager configuration', 'Wazuh manager restart']) {
      expect(freshPlan.stdout).toContain(title)
    }

    expect(freshPlan.stdout).toMatch(/\$ bash \/var\/lib\/mispwazuh\/wazuh-install\/wazuh-install\.sh -a -p \d+/)
    expect(freshPlan.stdout).toMatch(/\+\+\+ \/opt\/misp-docker\/\.env|\.env/)
    expect(freshPlan.stdout).toMatch(/would change the host/)
  })

  it('first run converges every step', () => {
    expect(first.exitCode, first.stdout).toBe(0)
    const statuses = Object.fromEntries(firstJson.steps.map((step) => [step.id, step.status]))
    expect(statuses.preflight).toBe('ok')
    for (const id of ['misp.misp-docker', 'misp.tls', 'misp.env', 'misp.start', 'misp.feeds', 'misp.warninglists', 'misp.wazuh-user', 'misp.refresh-job', 'misp.credentials', 'wazuh-install', 'integration-install', 'wazuh-config', 'manager-restart']) {
      expect(`${id}: ${statuses[id]}`).toBe(`${id}: changed`)
    }
  })

  it('installs the integration with the right owners and modes', async () => {
    const stat = async (file: string) => (await server().exec(['stat', '-c', '%U:%G %a', file])).stdout.trim()
    expect(await stat('/var/ossec/integrations/custom-misp')).toBe('root:wazuh 750')
    expect(await stat('/var/ossec/etc/mispwazuh/misp.json')).toBe('root:wazuh 640')
    expect(await stat('/var/ossec/etc/mispwazuh/misp-ca.crt')).toBe('root:wazuh 640')
    expect(await stat('/var/ossec/var/mispwazuh')).toBe('wazuh:wazuh 750')
    expect(await stat('/var/ossec/etc/ossec.conf')).toBe('root:wazuh 660')
    expect(await stat('/var/ossec/etc/rules/local_rules.xml')).toBe('wazuh:wazuh 660')
    expect(await stat('/var/ossec/etc/rules/misp.xml')).toBe('wazuh:wazuh 660')
    expect(await stat('/etc/mispwazuh/wazuh-credentials')).toBe('root:root 600')
    expect(await stat('/etc/mispwazuh/misp-credentials')).toBe('root:root 600')

    const script = await server().readFile('/var/ossec/integrations/custom-misp')
    expect(script.startsWith('#!/var/ossec/framework/python/bin/python3\n')).toBe(true)
    expect(script).not.toContain('\r')
    expect((await server().exec(['test', '-w', '/var/ossec/integrations/custom-misp'], {user: 'wazuh'})).exitCode).toBe(1)
    expect(await server().exec(['test', '-e', '/var/ossec/etc/mispwazuh/restart-pending'])).toMatchObject({exitCode: 1})
  })

  it('configures the integration with the Wazuh key, not the admin key', async () => {
    const config = JSON.parse(await server().readFile('/var/ossec/etc/mispwazuh/misp.json'))
    const wazuhKey = (await server().readFile('/etc/mispwazuh/misp-wazuh.key')).trim()
    const adminKey = (await server().readFile('/etc/mispwazuh/misp-admin.key')).trim()
    expect(config.api_key).toBe(wazuhKey)
    expect(config.api_key).not.toBe(adminKey)
    expect(config.misp_url).toBe(`https://127.0.0.1:${lab.mispHttpsPort}`)
    expect(config.ca_file).toBe('/var/ossec/etc/mispwazuh/misp-ca.crt')
    expect(config.verify_tls).toBe(true)
    expect(await server().readFile('/var/ossec/etc/mispwazuh/misp-ca.crt')).toBe(await server().readFile('/etc/mispwazuh/misp-ca.crt'))

    const ossecConf = await server().readFile('/var/ossec/etc/ossec.conf')
    expect(ossecConf.match(/<name>custom-misp<\/name>/g)).toHaveLength(1)
    expect(ossecConf).not.toContain(wazuhKey)
  })

  it('leaves the manager running with the integration', async () => {
    const status = await server().exec(['/var/ossec/bin/wazuh-control', 'status'])
    expect(status.stdout).toMatch(/^wazuh-integratord is running/m)
    expect(status.stdout).toMatch(/^wazuh-analysisd is running/m)
  })

  it('prints where everything is and no secret', async () => {
    expect(first.exitCode).toBe(0)
    const text = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
    expect(text.stdout).toMatch(/^MISP:\s+https:\/\/127\.0\.0\.1:\d+$/m)
    expect(text.stdout).toMatch(/^Wazuh dashboard:\s+https:\/\/127\.0\.0\.1:\d+ \(Wazuh 4\.12\.0\)$/m)
    expect(text.stdout).toMatch(/^MISP credentials:\s+\/etc\/mispwazuh\/misp-credentials on root@127\.0\.0\.1:\d+ \(root only\)$/m)
    expect(text.stdout).toMatch(/mispwazuh agent-config --host root@127\.0\.0\.1:\d+ --identity /)
    expect(text.stdout).toMatch(/mispwazuh verify --host root@127\.0\.0\.1:\d+/)

    const secrets = await secretsOn(server())
    expect(secrets.length).toBeGreaterThanOrEqual(4)
    for (const output of [first, second, freshPlan, convergedPlan, text]) {
      for (const secret of secrets) {
        expect(output.stdout).not.toContain(secret)
        expect(output.stderr).not.toContain(secret)
      }
    }
  })

  it('writes no secret into the run log or a world-readable file', async () => {
    const secrets = await secretsOn(server())
    const {readdirSync, readFileSync} = await import('node:fs')
    const path = await import('node:path')
    for (const result of [first, second]) {
      for (const name of readdirSync(result.logDirectory)) {
        const log = readFileSync(path.join(result.logDirectory, name), 'utf8')
        for (const secret of secrets) expect(log).not.toContain(secret)
      }
    }

    expect(await worldReadableFilesContaining(server(), secrets)).toEqual([])
  })
})

describe('setup on a converged server', () => {
  it('second run reports every step ok and writes no file', () => {
    expect(second.exitCode).toBe(0)
    expect(second.stdout).toMatch(/^0 changed, 16 ok, 0 skipped\.$/m)
    expect([...statsAfter.entries()].filter(([file, stat]) => statsBefore.get(file) !== stat)).toEqual([])
    expect(statsAfter.size).toBeGreaterThan(20)
  })

  it('dry run exits 0 with nothing to change', () => {
    expect(convergedPlan.exitCode).toBe(0)
    expect(convergedPlan.stdout).toMatch(/Nothing to change: the host is already set up\./)
  })
})
