/**
 * verify after `mispwazuh setup` on the Debian test server: every hop and both canaries pass,
 * the canary event is gone from MISP afterwards, and no secret reaches the output.
 */
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {hostFlags, runCli} from '../support/cli.js'
import {useTestServer} from '../support/test-server.js'
import {seedAgents, sendQueueMessage, sysmonDnsQueryMessage, waitForAlert} from '../support/wazuh/standins.js'
import {buildChain, type Chain, type VerifyJson} from './chain.js'

const CHECK_HOPS = [
  'misp.reachable', 'misp.from-manager', 'misp.wazuh-key', 'misp.feeds', 'misp.warninglists',
  'wazuh.manager', 'wazuh.integration-block', 'wazuh.integration-script', 'wazuh.integration-config',
  'wazuh.sysmon-rules', 'wazuh.misp-rules', 'wazuh.integration-log', 'wazuh.agents',
]
const CANARY_HOPS = ['canary.misp', 'canary.selftest', 'canary.sysmon', 'canary.cleanup']

function hop(report: VerifyJson, id: string): VerifyJson['hops'][number] {
  const found = report.hops.find((item) => item.id === id)
  if (!found) throw new Error(`hop ${id} missing: ${report.hops.map((item) => item.id).join(', ')}`)
  return found
}

describe('verify after setup', () => {
  const server = useTestServer()
  let chain: Chain

  beforeAll(async () => {
    chain = await buildChain(server())
  }, 900_000)

  afterAll(async () => {
    await chain?.stop()
  })

  it('passes every hop and both canaries', async () => {
    const leftover = chain.double.store.addEvent({info: 'mispwazuh verify canary 0123456789ab', distribution: '0', Attribute: [{type: 'domain', value: 'selftest-0123456789ab.canary.mispwazuh', to_ids: true}]})
    const unrelated = chain.double.store.addEvent({info: 'Phishing wave', Attribute: [{type: 'domain', value: 'evil.canary.mispwazuh', to_ids: true}]})
    if (!leftover.ok || !unrelated.ok) throw new Error('the MISP double rejected the test events')

    const {cli, report} = await chain.verify(['--canary-timeout', '30'])
    expect(report.hops.map((item) => item.id)).toEqual([...CHECK_HOPS, ...CANARY_HOPS])
    const notPassing = report.hops.filter((item) => item.status !== 'pass').map((item) => `${item.id}: ${item.found} ${item.fix ?? ''}`)
    expect(notPassing).toEqual([])
    expect(report.verdict).toBe('pass')
    expect(cli.exitCode).toBe(0)

    const selftest = hop(report, 'canary.selftest')
    expect(selftest.stages?.map((stage) => stage.reached)).toEqual([true, true, true, true, true])
    expect(selftest.stages?.[1]?.detail).toMatch(/^rule 100600 level 3 /)
    expect(selftest.stages?.[4]?.detail).toMatch(/^rule 100614 level 3 "mispwazuh self-test: MISP found the canary domain selftest-[0-9a-f]{12}\.canary\.mispwazuh/)

    const sysmon = hop(report, 'canary.sysmon')
    expect(sysmon.stages?.[1]?.detail).toMatch(/^rule 61650 level 3 "Sysmon - Event 22: DNS Query event"/)
    // A canary domain found through a real rule chain is lowered to the alert level, so verify raises no level-12 alert.
    expect(sysmon.stages?.[4]?.detail).toMatch(/^rule 100615 level 3 "mispwazuh verify canary: MISP found the test domain sysmon-[0-9a-f]{12}\.canary\.mispwazuh/)
    expect(hop(report, 'canary.misp').notes).toEqual([`Deleted canary event ${leftover.value.id} left by an earlier run that stopped before its cleanup.`])
    expect(chain.double.store.events.has(leftover.value.id)).toBe(false)
    expect(chain.double.store.events.has(unrelated.value.id)).toBe(true)
    chain.double.store.deleteEvent(unrelated.value.id)
    expect(hop(report, 'canary.cleanup').found).toMatch(/^Canary event \d+ deleted; restSearch no longer finds its domains; [1-9]\d* cached lookups? of the canary removed/)
  }, 300_000)

  it('leaves no canary behind in MISP or the cache', async () => {
    const store = chain.double.store
    expect([...store.events.values()].filter((event) => event.info.startsWith('mispwazuh verify canary'))).toEqual([])
    expect([...store.attributes.values()].filter((attribute) => attribute.value.endsWith('.canary.mispwazuh'))).toEqual([])
    const rows = await server().exec(['python3', '-c', 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM lookups WHERE value LIKE \'%canary.mispwazuh\'").fetchone()[0])', '/var/ossec/var/mispwazuh/cache.sqlite3'])
    expect(rows.stdout.trim()).toBe('0')
    const journal = await server().exec(['sh', '-c', 'stat -c "%U" /var/ossec/var/mispwazuh/* | sort -u'])
    expect(journal.stdout.trim()).toBe('wazuh')
  })

  it('prints a readable report with a verdict and no secret', async () => {
    const result = await runCli(['verify', ...hostFlags(server()), '--canary-timeout', '30'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toMatch(/^Verify root@127\.0\.0\.1:\d+$/m)
    for (const id of [...CHECK_HOPS, ...CANARY_HOPS]) expect(result.stdout).toMatch(new RegExp(`^  pass  ${id.replace('.', '\\.')}\\s`, 'm'))
    expect(result.stdout).toMatch(/^\s+\[x\] result alert in alerts\.json: rule 100614/m)
    expect(result.stdout).toMatch(/^Verdict: PASS \(17 passed, 0 failed, 0 skipped\)\. A canary IoC went from MISP/m)
    expect(result.stderr).toMatch(/canary event \d+ created in MISP/)

    const logs = fs.readdirSync(result.logDirectory).map((name) => fs.readFileSync(path.join(result.logDirectory, name), 'utf8'))
    expect(logs.join('\n')).toMatch(/hop canary\.cleanup: pass/)
    for (const secret of [chain.adminKey, chain.wazuhKey]) {
      expect(result.stdout).not.toContain(secret)
      expect(result.stderr).not.toContain(secret)
      for (const log of logs) expect(log).not.toContain(secret)
    }
  }, 300_000)

  it('runs only the hop checks with --no-canary', async () => {
    const before = chain.double.store.events.size
    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(0)
    expect(report.hops.map((item) => item.id)).toEqual(CHECK_HOPS)
    expect(chain.double.store.events.size).toBe(before)
    expect(chain.double.requests.some((request) => request.path.startsWith('/events/add'))).toBe(true)
    expect(chain.double.requests.filter((request) => request.path.startsWith('/events/add'))).toHaveLength(2)
  }, 300_000)

  it('runs as a sudo user over SSH', async () => {
    const result = await runCli(['verify', ...hostFlags(server(), 'admin'), '--json', '--canary-timeout', '30'])
    expect(result.exitCode).toBe(0)
    const report = JSON.parse(result.stdout) as VerifyJson
    expect(report.target).toMatch(/^admin@127\.0\.0\.1:\d+$/)
    expect(report.hops.filter((item) => item.status !== 'pass').map((item) => `${item.id}: ${item.found}`)).toEqual([])
  }, 300_000)

  it('counts agents that send Sysmon events', async () => {
    await seedAgents(server(), [
      {id: '001', name: 'win-agent-01', status: 'active', os: {platform: 'windows'}},
      {id: '002', name: 'win-agent-02', status: 'disconnected', os: {platform: 'windows'}},
    ])
    await sendQueueMessage(server(), sysmonDnsQueryMessage({agentId: '001', agentName: 'win-agent-01', queryName: 'update.example.org'}))
    await waitForAlert(server(), (alert) => alert.agent.id === '001' && alert.rule.id === '61650')

    const {report} = await chain.verify(['--no-canary'])
    const agents = hop(report, 'wazuh.agents')
    expect(agents.status).toBe('pass')
    expect(agents.found).toMatch(/^2 agents registered, (1 active|active count unknown[^;]*); 1 sent Sysmon alerts in the last 24 h: 001 win-agent-01 \(1 alerts, last \d{4}-\d{2}-\d{2}T/)
    expect(agents.notes).toEqual([])
  }, 300_000)
})
