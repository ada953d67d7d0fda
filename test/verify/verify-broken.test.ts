/**
 * Each hop broken on purpose on a wired chain: verify must fail at that hop with the fix for it,
 * while the hops that do not depend on it still report (and pass).
 */
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {feedStateOf} from '../support/misp-double/routes/feeds.js'
import {useTestServer} from '../support/test-server.js'
import {buildChain, CA_FILE, expiredCopyOfCa, INTEGRATION_CA_FILE, INTEGRATION_CONFIG, RULE_ID_BASE, SCRIPT, WAZUH_KEY_FILE, type Chain, type VerifyJson} from './chain.js'

const HOP_IDS = [
  'misp.reachable', 'misp.from-manager', 'misp.wazuh-key', 'misp.feeds', 'misp.warninglists',
  'wazuh.manager', 'wazuh.integration-block', 'wazuh.integration-script', 'wazuh.integration-config',
  'wazuh.sysmon-rules', 'wazuh.misp-rules', 'wazuh.integration-log', 'wazuh.agents',
]

const MISP_HOPS = HOP_IDS.filter((id) => id.startsWith('misp.'))
const WAZUH_HOPS = HOP_IDS.filter((id) => id.startsWith('wazuh.'))

function hop(report: VerifyJson, id: string): VerifyJson['hops'][number] {
  const found = report.hops.find((item) => item.id === id)
  if (!found) throw new Error(`hop ${id} missing from the report: ${report.hops.map((item) => item.id).join(', ')}`)
  return found
}

function statuses(report: VerifyJson, ids: readonly string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, hop(report, id).status]))
}

function allPass(ids: readonly string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, 'pass']))
}

async function editConfig(chain: Chain, change: (config: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(await chain.server.readFile(INTEGRATION_CONFIG)) as Record<string, unknown>
  change(config)
  await chain.server.writeFile(INTEGRATION_CONFIG, JSON.stringify(config), {owner: 'root', group: 'wazuh', mode: 0o640})
}

async function replaceIn(chain: Chain, file: string, search: string | RegExp, replacement: string, owner = 'root', group = 'wazuh', mode = 0o660): Promise<void> {
  const text = await chain.server.readFile(file)
  const changed = text.replace(search, replacement)
  expect(changed, `${String(search)} not found in ${file}`).not.toBe(text)
  await chain.server.writeFile(file, changed, {owner, group, mode})
}

describe('verify names the broken hop', () => {
  const server = useTestServer()
  let chain: Chain

  beforeAll(async () => {
    chain = await buildChain(server())
  }, 600_000)

  afterEach(async () => {
    await chain.restore()
  }, 120_000)

  afterAll(async () => {
    await chain?.stop()
  })

  it('wrong Wazuh key fails misp.wazuh-key', async () => {
    await editConfig(chain, (config) => {
      config.api_key = 'Wrong0Key0For0Verify0000000000000000000a'
    })

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'misp.wazuh-key').status).toBe('fail')
    expect(hop(report, 'misp.wazuh-key').found).toMatch(/MISP rejects api_key/)
    expect(hop(report, 'misp.wazuh-key').fix).toMatch(/Create a new key for the Wazuh user/)
    expect(hop(report, 'misp.wazuh-key').notes.join(' ')).toMatch(/differs from the key in the Wazuh key file/)
    expect(statuses(report, ['misp.reachable', 'misp.from-manager', 'misp.feeds', 'misp.warninglists', ...WAZUH_HOPS])).toEqual(allPass(['misp.reachable', 'misp.from-manager', 'misp.feeds', 'misp.warninglists', ...WAZUH_HOPS]))
    expect(cli.stdout).not.toContain('Wrong0Key0For0Verify')
  }, 120_000)

  it('admin key as the Wazuh key fails misp.wazuh-key', async () => {
    await editConfig(chain, (config) => {
      config.api_key = chain.adminKey
    })

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'misp.wazuh-key').status).toBe('fail')
    expect(hop(report, 'misp.wazuh-key').found).toMatch(/is the MISP admin key/)
    expect(hop(report, 'misp.wazuh-key').fix).toMatch(/dedicated Wazuh user's key/)
    expect(statuses(report, WAZUH_HOPS)).toEqual(allPass(WAZUH_HOPS))
    expect(cli.stdout).not.toContain(chain.adminKey)
  }, 120_000)

  it('expired CA fails misp.reachable and misp.from-manager', async () => {
    const expired = await expiredCopyOfCa(chain.server)
    await chain.server.writeFile(CA_FILE, expired, {mode: 0o644})
    await chain.server.writeFile(INTEGRATION_CA_FILE, expired, {owner: 'root', group: 'wazuh', mode: 0o640})

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'misp.reachable').status).toBe('fail')
    expect(hop(report, 'misp.reachable').found).toMatch(/expired on 2021-01-01/)
    expect(hop(report, 'misp.reachable').fix).toMatch(/Issue a new CA/)
    expect(hop(report, 'misp.from-manager').status).toBe('fail')
    expect(hop(report, 'misp.from-manager').found).toMatch(/certificate has expired/)
    expect(statuses(report, ['misp.wazuh-key', 'misp.feeds', 'misp.warninglists'])).toEqual({'misp.wazuh-key': 'skip', 'misp.feeds': 'skip', 'misp.warninglists': 'skip'})
    expect(statuses(report, WAZUH_HOPS)).toEqual(allPass(WAZUH_HOPS))
  }, 120_000)

  it('script mode 0770 fails wazuh.integration-script', async () => {
    await chain.server.exec(['chmod', '0770', SCRIPT])

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    const script = hop(report, 'wazuh.integration-script')
    expect(script.status).toBe('fail')
    expect(script.found).toMatch(/root:wazuh 0770: user wazuh can write it/)
    expect(script.fix).toContain(`chown root:wazuh ${SCRIPT} && chmod 0750 ${SCRIPT}`)
    const others = HOP_IDS.filter((id) => id !== 'wazuh.integration-script')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)

  it('CRLF script fails wazuh.integration-script', async () => {
    const text = await chain.server.readFile(SCRIPT)
    await chain.server.writeFile(SCRIPT, text.replaceAll('\n', '\r\n'), {owner: 'root', group: 'wazuh', mode: 0o750})

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    const script = hop(report, 'wazuh.integration-script')
    expect(script.status).toBe('fail')
    expect(script.found).toMatch(/CRLF line endings/)
    expect(script.fix).toContain(`sed -i 's/\\r$//' ${SCRIPT}`)
    const others = HOP_IDS.filter((id) => id !== 'wazuh.integration-script')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)

  it('missing integration block fails wazuh.integration-block and the canary', async () => {
    await replaceIn(chain, '/var/ossec/etc/ossec.conf', /[ \t]*<!--[ \t]*mispwazuh:begin custom-misp-integration[\s\S]*?mispwazuh:end custom-misp-integration[ \t]*-->\n/, '')
    await chain.server.exec(['/var/ossec/bin/wazuh-control', 'restart'])

    const {cli, report} = await chain.verify(['--canary-timeout', '8'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'wazuh.integration-block').status).toBe('fail')
    expect(hop(report, 'wazuh.integration-block').found).toMatch(/has no <integration> block named custom-misp/)
    expect(hop(report, 'wazuh.integration-block').fix).toMatch(/adds the block/)
    expect(statuses(report, MISP_HOPS)).toEqual(allPass(MISP_HOPS))
    expect(hop(report, 'canary.misp').status).toBe('pass')
    const selftest = hop(report, 'canary.selftest')
    expect(selftest.status).toBe('fail')
    expect(selftest.stages?.map((stage) => stage.reached)).toEqual([true, true, false, false, false])
    expect(selftest.fix).toMatch(/no custom-misp block/)
    expect(hop(report, 'canary.cleanup').status).toBe('pass')
    expect([...chain.double.store.events.values()].filter((event) => event.info.includes('canary'))).toEqual([])
  }, 180_000)

  it('misspelled group fails wazuh.integration-block and the Sysmon canary', async () => {
    await replaceIn(chain, '/var/ossec/etc/ossec.conf', ',sysmon_event_22,', ',sysmon_event22,')
    await chain.server.exec(['/var/ossec/bin/wazuh-control', 'restart'])

    const {cli, report} = await chain.verify(['--canary-timeout', '8'])
    expect(cli.exitCode).toBe(1)
    const block = hop(report, 'wazuh.integration-block')
    expect(block.status).toBe('fail')
    expect(block.found).toMatch(/group sysmon_event22 exists in no rule of the installed ruleset/)
    expect(block.notes.join(' ')).toMatch(/leaves out sysmon_event_22/)
    expect(hop(report, 'canary.selftest').status).toBe('pass')
    const sysmon = hop(report, 'canary.sysmon')
    expect(sysmon.status).toBe('fail')
    expect(sysmon.stages?.map((stage) => stage.reached)).toEqual([true, true, false, false, false])
    expect(sysmon.fix).toMatch(/integratord skips this alert: its groups \(windows, sysmon, sysmon_event_22\) match no entry/)
    const others = HOP_IDS.filter((id) => id !== 'wazuh.integration-block')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 180_000)

  it('level-0 base rule fails wazuh.sysmon-rules', async () => {
    await replaceIn(chain, '/var/ossec/etc/rules/local_rules.xml', /<rule id="61650" level="\d+" overwrite="yes">/, '<rule id="61650" level="0" overwrite="yes">', 'wazuh', 'wazuh', 0o660)

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    const rules = hop(report, 'wazuh.sysmon-rules')
    expect(rules.status).toBe('fail')
    expect(rules.found).toMatch(/61650 \(Sysmon event 22, DNS query \(domain, answers\)\) is level 0 \(overwritten in etc\/rules\/local_rules.xml\)/)
    expect(rules.fix).toMatch(/overwrite="yes" copies at level 3/)
    const others = HOP_IDS.filter((id) => id !== 'wazuh.sysmon-rules')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)

  it('duplicate rule ID fails wazuh.misp-rules', async () => {
    const iocRule = RULE_ID_BASE + 13
    const extra = `<group name="local,">\n  <rule id="${iocRule}" level="5">\n    <match>verify duplicate test</match>\n    <description>A hand-made rule that reuses an ID.</description>\n  </rule>\n</group>\n`
    await chain.server.writeFile('/var/ossec/etc/rules/zz-verify-test.xml', extra, {owner: 'wazuh', group: 'wazuh', mode: 0o660})

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    const rules = hop(report, 'wazuh.misp-rules')
    expect(rules.status).toBe('fail')
    expect(rules.found).toMatch(new RegExp(`rule ${iocRule} is defined in etc/rules/misp.xml line \\d+ and etc/rules/zz-verify-test.xml line 2`))
    expect(rules.fix).toMatch(/Give the other rule a free ID/)
    const others = HOP_IDS.filter((id) => id !== 'wazuh.misp-rules')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)

  it('MISP down fails misp.reachable and skips the canary', async () => {
    await chain.double.stop()

    const {cli, report} = await chain.verify(['--canary-timeout', '5'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'misp.reachable').status).toBe('fail')
    expect(hop(report, 'misp.reachable').found).toMatch(/MISP does not answer at https:\/\/127\.0\.0\.1:\d+/)
    expect(hop(report, 'misp.reachable').fix).toMatch(/Start MISP/)
    expect(hop(report, 'misp.from-manager').status).toBe('fail')
    expect(hop(report, 'misp.from-manager').found).toMatch(/cannot connect/)
    expect(statuses(report, ['misp.wazuh-key', 'misp.feeds', 'misp.warninglists', 'canary.misp', 'canary.selftest', 'canary.sysmon'])).toEqual({
      'misp.wazuh-key': 'skip', 'misp.feeds': 'skip', 'misp.warninglists': 'skip', 'canary.misp': 'skip', 'canary.selftest': 'skip', 'canary.sysmon': 'skip',
    })
    expect(report.hops.some((item) => item.id === 'canary.cleanup')).toBe(false)
    expect(statuses(report, WAZUH_HOPS)).toEqual(allPass(WAZUH_HOPS))
  }, 180_000)

  it('feeds disabled fails misp.feeds', async () => {
    for (const item of feedStateOf(chain.double.store).feeds.values()) item.Feed.enabled = false

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'misp.feeds').status).toBe('fail')
    expect(hop(report, 'misp.feeds').found).toMatch(/^0 of 84 feeds enabled/)
    expect(hop(report, 'misp.feeds').fix).toMatch(/Enable feeds/)
    const others = HOP_IDS.filter((id) => id !== 'misp.feeds')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)

  it('stopped manager fails wazuh.manager and skips the alert canaries', async () => {
    await chain.server.exec(['/var/ossec/bin/wazuh-control', 'stop'])

    const {cli, report} = await chain.verify(['--canary-timeout', '5'])
    expect(cli.exitCode).toBe(1)
    expect(hop(report, 'wazuh.manager').status).toBe('fail')
    expect(hop(report, 'wazuh.manager').found).toMatch(/wazuh-analysisd and wazuh-integratord are not running/)
    expect(hop(report, 'wazuh.manager').fix).toMatch(/systemctl restart wazuh-manager/)
    expect(statuses(report, ['canary.misp', 'canary.selftest', 'canary.sysmon', 'canary.cleanup'])).toEqual({'canary.misp': 'pass', 'canary.selftest': 'skip', 'canary.sysmon': 'skip', 'canary.cleanup': 'pass'})
    expect(statuses(report, MISP_HOPS)).toEqual(allPass(MISP_HOPS))
  }, 180_000)

  it('Wazuh key file readable by others is noted', async () => {
    await chain.server.exec(['chmod', '0644', WAZUH_KEY_FILE])

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(0)
    expect(hop(report, 'misp.wazuh-key').notes).toContain(`${WAZUH_KEY_FILE} holds a secret but is root:root 0644; make it root-only: chown root:root ${WAZUH_KEY_FILE} && chmod 0600 ${WAZUH_KEY_FILE}.`)
  }, 120_000)

  it('integration errors fail wazuh.integration-log', async () => {
    const stamp = (await chain.server.exec(['date', '+%Y/%m/%d %H:%M:%S'])).stdout.trim()
    const ossecLines = [
      `${stamp} wazuh-integratord: ERROR: At wpopenv(): file '${SCRIPT}' has write permissions.`,
      `${stamp} wazuh-integratord: ERROR: Couldn't execute command (integrations /tmp/custom-misp-1-2.alert     10 2 > /dev/null 2>&1). Check file and permissions.`,
      `${stamp} wazuh-integratord: ERROR: At wpopenv(): file '${SCRIPT}' has write permissions.`,
    ]
    const integrationLines = [
      `${stamp} custom-misp: ERROR: alert 1796416935.0: MISP lookup failed: reason=auth_failed status=403: Authentication failed.`,
      `${stamp} custom-misp: INFO: alert 1796416935.0: MISP match: domain a.example from data.win.eventdata.queryName matches event 1 attribute 1 (domain a.example)`,
    ]
    await chain.server.exec(['sh', '-c', 'cat >> /var/ossec/logs/ossec.log'], {stdin: `${ossecLines.join('\n')}\n`})
    await chain.server.exec(['sh', '-c', 'cat >> /var/ossec/logs/integrations.log'], {stdin: `${integrationLines.join('\n')}\n`})

    const {cli, report} = await chain.verify(['--no-canary'])
    expect(cli.exitCode).toBe(1)
    const logs = hop(report, 'wazuh.integration-log')
    expect(logs.status).toBe('fail')
    expect(logs.found).toContain('2 × script writable by wazuh in ossec.log')
    expect(logs.found).toContain('1 × script could not be executed in ossec.log')
    expect(logs.found).toContain('1 × MISP lookup failed (auth_failed) in integrations.log')
    expect(logs.found).not.toContain('MISP match')
    expect(logs.fix).toContain(`chown root:wazuh ${SCRIPT} && chmod 0750 ${SCRIPT}`)
    expect(logs.fix).toContain('see misp.wazuh-key')
    const others = HOP_IDS.filter((id) => id !== 'wazuh.integration-log')
    expect(statuses(report, others)).toEqual(allPass(others))
  }, 120_000)
})
