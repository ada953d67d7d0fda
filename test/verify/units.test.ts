/** The pure parts of verify: parsers, log classification, canary messages and the report text. */
import {XMLParser} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {countRegisteredAgents, parseAgentControl} from '../../src/verify/agent-hops.js'
import {CANARY_PARENT, newCanaryDomains} from '../../src/verify/canary-event.js'
import {buildSelftestEvent, buildSysmonDnsEvent, CANARY_AGENT} from '../../src/verify/canary-messages.js'
import {parseCredentials} from '../../src/verify/facts.js'
import {classifyIntegratordLine, classifyIntegrationLine} from '../../src/verify/log-hops.js'
import {renderVerifyReport} from '../../src/verify/render.js'
import {findIntegrationRules} from '../../src/verify/rule-hops.js'
import type {VerifyReport} from '../../src/verify/run.js'
import {renderLocalRules, renderMispRules} from '../../src/wazuh/rule-edits.js'
import {ruleIdsFrom} from '../../src/wazuh/rule-ids.js'
import {parseRuleFile} from '../../src/wazuh/rules.js'

describe('parseCredentials', () => {
  it('reads the paths setup writes', () => {
    const text = '# comment\nMISP_URL=https://192.0.2.10:8443/\nMISP_ADMIN_PASSWORD=a=b\nMISP_WAZUH_USER=wazuh@misp.local\nMISP_CA_FILE=/etc/x/ca.crt\nMISP_PINNED_SHA256=AB:CD\n'
    const credentials = parseCredentials('/etc/mispwazuh/misp-credentials', text)
    expect(credentials.url).toBe('https://192.0.2.10:8443')
    expect(credentials.wazuhUser).toBe('wazuh@misp.local')
    expect(credentials.caFile).toBe('/etc/x/ca.crt')
    expect(credentials.pinnedSha256).toBe('AB:CD')
  })

  it('falls back to the default key file paths', () => {
    const credentials = parseCredentials('f', 'MISP_URL=https://misp\n')
    expect(credentials.adminKeyFile).toBe('/etc/mispwazuh/misp-admin.key')
    expect(credentials.wazuhKeyFile).toBe('/etc/mispwazuh/misp-wazuh.key')
    expect(credentials.wazuhUser).toBeUndefined()
  })
})

describe('log classification', () => {
  const script = '/var/ossec/integrations/custom-misp'

  it('names integratord refusals with their fix', () => {
    const writable = classifyIntegratordLine(`2026/12/04 20:00:00 wazuh-integratord: ERROR: At wpopenv(): file '${script}' has write permissions.`, script)
    expect(writable?.kind).toBe('script writable by wazuh')
    expect(writable?.fix).toBe(`chown root:wazuh ${script} && chmod 0750 ${script}`)
    expect(classifyIntegratordLine("wazuh-integratord: ERROR: Couldn't execute command (integrations /tmp/a.alert). Check file and permissions.", script)?.kind).toBe('script could not be executed')
    expect(classifyIntegratordLine('wazuh-integratord: INFO: Enabling integration for: \'custom-misp\'.', script)).toBeUndefined()
  })

  it('names MISP lookup failures by reason', () => {
    const line = '2026/12/04 20:00:00 custom-misp: ERROR: alert 1.2: MISP lookup failed: reason=auth_failed status=403: Authentication failed'
    expect(classifyIntegrationLine(line)?.kind).toBe('MISP lookup failed (auth_failed)')
    expect(classifyIntegrationLine(line)?.fix).toMatch(/see misp\.wazuh-key/)
    expect(classifyIntegrationLine('2026/12/04 20:00:00 custom-misp: INFO: alert 1.2: MISP match: domain a.b')).toBeUndefined()
  })
})

describe('agents', () => {
  it('parses agent_control -l', () => {
    const output = 'Wazuh agent_control. List of available agents:\n   ID: 000, Name: manager (server), IP: 127.0.0.1, Active/Local\n   ID: 001, Name: win-01, IP: any, Active\n   ID: 002, Name: win-02, IP: 192.0.2.7, Disconnected\n'
    expect(parseAgentControl(output)).toEqual([
      {id: '000', name: 'manager (server)', status: 'Active/Local'},
      {id: '001', name: 'win-01', status: 'Active'},
      {id: '002', name: 'win-02', status: 'Disconnected'},
    ])
  })

  it('counts client.keys without removed agents', () => {
    expect(countRegisteredAgents(`001 win-01 any ${'0'.repeat(64)}\n002 !win-02 any ${'0'.repeat(64)}\n003 win-03 192.0.2.3 ${'1'.repeat(64)}\n\n`)).toBe(2)
  })
})

describe('canary messages', () => {
  it('makes unique canary domains the self-test accepts', () => {
    const first = newCanaryDomains()
    const second = newCanaryDomains()
    expect(first.token).not.toBe(second.token)
    expect(first.selftest).toMatch(new RegExp(`^selftest-[0-9a-f]{12}\\.${CANARY_PARENT.replace('.', '\\.')}$`))
    expect(buildSelftestEvent(first.selftest)).toBe(`1:mispwazuh-selftest:{"mispwazuh":{"selftest":"1","canary_domain":"${first.selftest}"}}`)
  })

  it('builds a Sysmon event 22 as remoted hands it to analysisd', () => {
    const message = buildSysmonDnsEvent('sysmon-abc.canary.mispwazuh', new Date('2026-12-04T20:00:00.000Z'))
    const prefix = `f:[${CANARY_AGENT.id}] (${CANARY_AGENT.name}) any->EventChannel:`
    expect(message.startsWith(prefix)).toBe(true)
    const payload = JSON.parse(message.slice(prefix.length)) as {Message: string; Event: string}
    expect(payload.Message).toMatch(/^Dns query:\r\n/)
    expect(payload.Message).toContain('QueryName: sysmon-abc.canary.mispwazuh')

    const event = new XMLParser({ignoreAttributes: false, attributeNamePrefix: ''}).parse(payload.Event).Event
    expect(event.xmlns).toBe('http://schemas.microsoft.com/win/2004/08/events/event')
    expect(event.System.EventID).toBe(22)
    expect(event.System.Channel).toBe('Microsoft-Windows-Sysmon/Operational')
    expect(event.System.Provider.Name).toBe('Microsoft-Windows-Sysmon')
    const data = Object.fromEntries((event.EventData.Data as Array<{Name: string; '#text': string}>).map((item) => [item.Name, item['#text']]))
    expect(data.QueryName).toBe('sysmon-abc.canary.mispwazuh')
    expect(data.Image).toBe('C:\\Windows\\System32\\nslookup.exe')
  })
})

describe('findIntegrationRules', () => {
  it('finds the rules setup writes by what they match', () => {
    const ids = ruleIdsFrom(100_600)
    const files = [
      parseRuleFile('etc/rules/local_rules.xml', renderLocalRules(ids, [], 3, 3), {strict: true}),
      parseRuleFile('etc/rules/misp.xml', renderMispRules(ids, 3), {strict: true}),
    ]
    const rules = findIntegrationRules(files)
    expect(rules.selftest?.id).toBe(100_600)
    expect(rules.result?.id).toBe(100_610)
    expect(rules.iocFound?.id).toBe(100_613)
  })
})

describe('renderVerifyReport', () => {
  const report: VerifyReport = {
    target: 'root@192.0.2.20',
    canaryRan: false,
    passed: 1,
    failed: 1,
    skipped: 1,
    verdict: 'fail',
    hops: [
      {id: 'misp.reachable', title: 'MISP reachable over verified TLS', status: 'pass', found: 'MISP 2.5.1 answers.', notes: [], durationMs: 1},
      {id: 'misp.wazuh-key', title: 'Wazuh auth key', status: 'fail', found: 'MISP rejects the key.', fix: 'Create a new key.', notes: ['a note'], durationMs: 1},
      {id: 'misp.feeds', title: 'MISP feeds', status: 'skip', found: 'Skipped: no admin key.', notes: [], durationMs: 1},
    ],
  }

  it('shows fixes, notes and the first failed hop in the verdict', () => {
    const text = renderVerifyReport(report)
    expect(text).toContain('  FAIL  misp.wazuh-key            Wazuh auth key\n        MISP rejects the key.\n        note: a note\n        fix: Create a new key.')
    expect(text).toContain('  skip  misp.feeds')
    expect(text).toContain('The canary did not run (--no-canary)')
    expect(text.split('\n').at(-1)).toBe('Verdict: FAIL (1 passed, 1 failed, 1 skipped). Fix misp.wazuh-key first; later hops may depend on it.')
  })

  it('claims no canary journey when the canary hops were skipped', () => {
    const skipped: VerifyReport = {
      ...report,
      canaryRan: true,
      failed: 0,
      verdict: 'pass',
      hops: [
        {id: 'canary.selftest', title: 'Self-test canary', status: 'skip', found: 'Skipped.', notes: [], durationMs: 1},
        {id: 'canary.sysmon', title: 'Sysmon canary', status: 'skip', found: 'Skipped.', notes: [], durationMs: 1},
      ],
    }
    expect(renderVerifyReport(skipped).split('\n').at(-1)).toBe('Verdict: PASS (1 passed, 0 failed, 1 skipped). Every hop checked passes, but no canary travelled the chain (see the skipped hops).')
  })
})
