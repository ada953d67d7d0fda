import {existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {LocalTarget} from '../../src/target/local-target.js'
import {planWazuhConfig, type WazuhConfigOptions} from '../../src/wazuh/config-plan.js'
import {wazuhConfigStep} from '../../src/wazuh/config-step.js'
import {inspectWazuhConfig} from '../../src/wazuh/inspect.js'
import {integrationGroups, SYSMON_EVENTS} from '../../src/wazuh/integration-groups.js'
import {findManagedRegions} from '../../src/wazuh/managed-region.js'
import {readIntegrationBlocks} from '../../src/wazuh/ossec-conf.js'
import {applyRollback, planRollback} from '../../src/wazuh/rollback.js'
import {RuleIdCollisionError} from '../../src/wazuh/rule-ids.js'
import {parseRuleFile, type RuleDefinition} from '../../src/wazuh/rules.js'
import {applyWazuhFiles, readManifest, WazuhValidationError} from '../../src/wazuh/transaction.js'
import {childElements, elementText, MalformedWazuhFileError, parseWazuhXml} from '../../src/wazuh/xml-text.js'
import {Redactor} from '../../src/ui/redact.js'
import type {RunLog} from '../../src/ui/run-log.js'
import {deepestMatch, pcre2ToJs} from './rule-match.js'
import {createStockTree, type StockTree} from './stock-tree.js'

const target = new LocalTarget()
let tree: StockTree

beforeEach(() => {
  tree = createStockTree()
})

afterEach(() => {
  tree.remove()
})

function options(extra: Partial<WazuhConfigOptions> = {}): WazuhConfigOptions {
  return {wazuhDir: tree.dir, ruleIdBase: 100_600, ...extra}
}

async function configure(extra: Partial<WazuhConfigOptions> = {}) {
  const plan = await planWazuhConfig(target, options(extra))
  const record = await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})
  return {plan, record}
}

function ruleFile(relative: string) {
  return parseRuleFile(relative, tree.read(relative), {strict: true})
}

function ownerOf(relative: string): {mode: number; uid: number; gid: number} {
  const stat = statSync(tree.file(relative))
  return {mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid}
}

/** Checks that a diff only adds lines, all of them inside mispwazuh's markers. */
function expectOnlyManagedLinesAdded(diff: string): void {
  const body = diff.split('\n').filter((line) => !line.startsWith('---') && !line.startsWith('+++') && !line.startsWith('Index:') && !line.startsWith('===='))
  expect(body.filter((line) => line.startsWith('-'))).toEqual([])
  let inside = false
  for (const line of body.filter((candidate) => candidate.startsWith('+'))) {
    if (line.includes('mispwazuh:begin')) inside = true
    const blank = line.slice(1).trim() === ''
    expect(inside || blank, `added line outside the managed region: ${line}`).toBe(true)
    if (line.includes('mispwazuh:end')) inside = false
  }
}

describe('stock 4.12 tree', () => {
  it('apply writes the managed fragments', async () => {
    const original = tree.snapshot()
    const {plan, record} = await configure()

    expect(plan.changes.map((change) => path.basename(change.path ?? ''))).toEqual(['ossec.conf', 'local_rules.xml', 'misp.xml'])
    expect(record?.files).toHaveLength(3)

    const conf = parseWazuhXml(tree.read('etc/ossec.conf'), 'ossec.conf')
    const blocks = readIntegrationBlocks(conf)
    expect(blocks).toHaveLength(1)
    expect(blocks[0]?.managed).toBe(true)
    expect(blocks[0]?.groups).toEqual(integrationGroups())
    expect(blocks[0]?.alertFormat).toBe('json')
    expect(blocks[0]?.tags).toEqual(['name', 'group', 'alert_format', 'timeout', 'retries'])
    expect(blocks[0]?.element.parent).toBe(conf.roots.find((root) => root.name === 'ossec_config'))
    const block = tree.read('etc/ossec.conf').slice(blocks[0]!.element.start, blocks[0]!.element.end)
    expect(block).not.toMatch(/api_key|hook_url|https?:\/\/|<options>/)

    const local = ruleFile('etc/rules/local_rules.xml')
    for (const event of SYSMON_EVENTS) {
      const copy = local.rules.find((rule) => rule.id === event.baseRuleId)
      expect(copy?.overwrite, `overwrite of ${event.baseRuleId}`).toBe(true)
      expect(copy?.level).toBe(3)
    }

    expect(local.rules.find((rule) => rule.id === 100_001)?.managed).toBe(false)
    expect(ruleFile('etc/rules/misp.xml').rules.map((rule) => rule.id)).toEqual([100_610, 100_611, 100_612, 100_613, 100_614, 100_615])

    expect(ownerOf('etc/ossec.conf')).toEqual({mode: 0o660, uid: 0, gid: original.get('etc/ossec.conf')?.gid})
    expect(ownerOf('etc/rules/misp.xml')).toEqual(ownerOf('etc/rules/local_rules.xml'))
    expect(ownerOf('etc/rules/misp.xml').mode).toBe(0o660)
  })

  it('apply keeps backups with owner and mode', async () => {
    const original = tree.snapshot()
    const {record} = await configure()
    for (const file of record?.files ?? []) {
      if (file.created) continue
      const relative = path.relative(tree.dir, file.path)
      const backup = path.relative(tree.dir, file.backup ?? '')
      const before = original.get(relative)
      const copy = tree.snapshot().get(backup)
      expect(copy?.content.equals(before?.content ?? Buffer.alloc(0)), backup).toBe(true)
      expect(copy?.mode).toBe(before?.mode)
      expect(copy?.uid).toBe(before?.uid)
      expect(copy?.gid).toBe(before?.gid)
    }

    const manifest = await readManifest(target, tree.dir)
    expect(manifest.applies).toHaveLength(1)
    expect(ownerOf('etc/mispwazuh/config-applies.json').mode).toBe(0o600)
  })

  it('second apply changes nothing', async () => {
    await configure()
    const after = tree.snapshot()
    const {plan, record} = await configure()
    expect(plan.changes).toEqual([])
    expect(plan.reason).toMatch(/^unchanged: /)
    expect(record).toBeUndefined()
    expect(tree.snapshot()).toEqual(after)
  })

  it('diff touches only managed lines', async () => {
    const plan = await planWazuhConfig(target, options())
    for (const change of plan.changes) expectOnlyManagedLinesAdded(change.diff ?? '')

    const original = readFileSync('test/fixtures/wazuh/config/ossec.conf.manager-ubuntu24.04-v4.12.0.xml', 'utf8')
    await configure()
    const written = tree.read('etc/ossec.conf')
    const [region] = findManagedRegions(written, 'ossec.conf')
    const withoutRegion = written.slice(0, region!.start) + written.slice(region!.end)
    expect(withoutRegion.replace('  </cluster>\n\n\n</ossec_config>', '  </cluster>\n\n</ossec_config>')).toBe(original)
  })

  it('plan on Wazuh 4.7 leaves out timeout', async () => {
    tree.remove()
    tree = createStockTree({version: '4.7.5'})
    await configure()
    const blocks = readIntegrationBlocks(parseWazuhXml(tree.read('etc/ossec.conf')))
    expect(blocks[0]?.tags).toEqual(['name', 'group', 'alert_format'])
  })

  it('warns about groups missing from the ruleset', async () => {
    const plan = await planWazuhConfig(target, options())
    const missing = plan.warnings.filter((warning) => warning.includes('exists in no rule'))
    expect(missing.some((warning) => warning.includes('sysmon_eid3_detections'))).toBe(true)
    expect(missing.some((warning) => warning.includes('sysmon_eid7_detections'))).toBe(true)
    expect(missing.some((warning) => warning.includes('sysmon_eid1_detections'))).toBe(false)
    expect(plan.warnings.some((warning) => warning.includes('below log_alert_level'))).toBe(false)
  })

  it('warns until the integration script exists', async () => {
    const missing = await planWazuhConfig(target, options())
    expect(missing.warnings.some((warning) => warning.includes(`${tree.file('integrations/custom-misp')} is not installed yet`))).toBe(true)
    mkdirSync(tree.file('integrations'))
    writeFileSync(tree.file('integrations/custom-misp'), '#!/var/ossec/framework/python/bin/python3\n', {mode: 0o750})
    const installed = await planWazuhConfig(target, options())
    expect(installed.warnings.some((warning) => warning.includes('is not installed yet'))).toBe(false)
  })

  it('warns when a stock group stays below log_alert_level', async () => {
    const conf = tree.read('etc/ossec.conf').replace('<log_alert_level>3</log_alert_level>', '<log_alert_level>13</log_alert_level>')
    tree.write('etc/ossec.conf', conf)
    const plan = await planWazuhConfig(target, options())
    expect(plan.alertLevel).toBe(13)
    expect(plan.warnings.some((warning) => warning.includes('syscheck_entry_added') && warning.includes('below log_alert_level 13'))).toBe(true)
  })
})

describe('generated rules', () => {
  it('overwrite copies keep the stock fields', async () => {
    await configure()
    const stock = parseRuleFile('ruleset/rules/0595-win-sysmon_rules.xml', tree.read('ruleset/rules/0595-win-sysmon_rules.xml'), {strict: true})
    const local = ruleFile('etc/rules/local_rules.xml')
    for (const event of SYSMON_EVENTS) {
      const original = stock.rules.find((rule) => rule.id === event.baseRuleId) as RuleDefinition
      const copy = local.rules.find((rule) => rule.id === event.baseRuleId) as RuleDefinition
      expect(copy.managed).toBe(true)
      expect(copy.ifSid).toBe(original.ifSid)
      expect(copy.fields).toEqual(original.fields)
      expect(copy.groups).toEqual(original.groups)
      expect(copy.groupName).toBe(original.groupName)
      const children = (rule: RuleDefinition, file: {text: string}) => rule.element!.children.map((child) => `${child.name}=${elementText(file.text, child)}`)
      expect(children(copy, local)).toEqual(children(original, stock))
    }
  })

  it('self-test rule matches the self-test event', async () => {
    const {plan} = await configure()
    const local = ruleFile('etc/rules/local_rules.xml')
    const rule = local.rules.find((candidate) => candidate.id === plan.ruleIds.selftest) as RuleDefinition
    expect(rule.groups).toContain('mispwazuh_selftest')
    expect(rule.level).toBeGreaterThanOrEqual(plan.logAlertLevel)
    expect(childElements(rule.element!, 'decoded_as').map((child) => elementText(local.text, child))).toEqual(['json'])
    expect(childElements(rule.element!, 'location').map((child) => elementText(local.text, child))).toEqual(['^mispwazuh-selftest$'])
    const {buildSelftestEvent} = await import('../../src/wazuh/selftest.js')
    const message = buildSelftestEvent('canary-1.example')
    const [, location, json] = /^1:([^:]+):(.*)$/.exec(message)!
    expect(location).toBe('mispwazuh-selftest')
    expect(deepestMatch(local.rules, [rule], JSON.parse(json!))).toBe(plan.ruleIds.selftest)
  })

  it('PowerShell rules chain to Sysmon event 3', async () => {
    const {plan} = await configure()
    const local = ruleFile('etc/rules/local_rules.xml')
    const connection = local.rules.find((rule) => rule.id === plan.ruleIds.powershellConnection) as RuleDefinition
    const burst = local.rules.find((rule) => rule.id === plan.ruleIds.powershellBurst) as RuleDefinition
    expect(connection.level).toBe(2)
    expect(connection.ifSid).toBe('61605')
    expect(burst.level).toBe(13)
    expect(burst.element?.attributes.frequency).toBe('5')
    expect(burst.element?.attributes.timeframe).toBe('60')
    expect(childElements(burst.element!, 'if_matched_sid').map((child) => elementText(local.text, child))).toEqual([String(plan.ruleIds.powershellConnection)])
    expect(elementText(local.text, childElements(burst.element!, 'mitre')[0]!)).toContain('T1059.001')

    const ini = readFileSync('test/fixtures/wazuh/ruleset-tests/sysmon.ini', 'utf8')
    const line = /\[Sysmon EventID 3\]\nlog 1 pass = (.*)\n/.exec(ini)![1]!
    const powershell = JSON.parse(line.replace('C:\\\\\\\\Users\\\\\\\\Public\\\\\\\\super_scary.exe', 'C:\\\\\\\\Windows\\\\\\\\System32\\\\\\\\WindowsPowerShell\\\\\\\\v1.0\\\\\\\\powershell.exe'))
    expect(powershell.win.eventdata.image).toBe('C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe')
    const base = local.rules.find((rule) => rule.id === 61_605) as RuleDefinition
    const rules = [...local.rules]
    expect(deepestMatch(rules, [base], powershell)).toBe(plan.ruleIds.powershellConnection)
    expect(deepestMatch(rules, [base], JSON.parse(line))).toBe(61_605)

    const pattern = pcre2ToJs(connection.fields[0]!.value)
    expect(pattern.test('C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe')).toBe(false)
  })

  it('misp.xml rules chain on integration results', async () => {
    const {plan} = await configure()
    const misp = ruleFile('etc/rules/misp.xml')
    const ids = plan.ruleIds
    expect(new Set(misp.rules.map((rule) => rule.id)).size).toBe(misp.rules.length)
    for (const rule of misp.rules) expect(rule.groups).toContain('misp')

    const root = misp.rules.find((rule) => rule.id === ids.result) as RuleDefinition
    expect(childElements(root.element!, 'decoded_as').map((child) => elementText(misp.text, child))).toEqual(['json'])
    expect(root.level).toBe(0)

    const source = {alert_id: '1733300000.1', rule_id: '61650', rule_description: 'Sysmon - Event 22', agent_id: '001', agent_name: 'win', agent_ip: '192.0.2.10'}
    const found = {integration: 'misp', misp: {event_id: '42', event_info: 'Campaign', category: 'Network activity', type: 'domain', value: 'evil.example', to_ids: true, ioc: 'evil.example', ioc_field: 'data.win.eventdata.queryName', source}}
    const selftest = {integration: 'misp', misp: {...found.misp, source: {...source, rule_id: String(ids.selftest)}}}
    const error = {integration: 'misp', misp: {error: 'timeout', error_detail: 'no answer within 8 s', source}}
    const authError = {integration: 'misp', misp: {error: 'auth_failed', error_detail: 'HTTP 403', source}}
    const other = {integration: 'virustotal', virustotal: {found: '1'}}

    expect(deepestMatch(misp.rules, [root], found)).toBe(ids.iocFound)
    expect(deepestMatch(misp.rules, [root], selftest)).toBe(ids.selftestFound)
    const sysmonCanary = {integration: 'misp', misp: {...found.misp, value: 'sysmon-abc123.canary.mispwazuh'}}
    expect(deepestMatch(misp.rules, [root], sysmonCanary)).toBe(ids.canaryFound)
    expect(deepestMatch(misp.rules, [root], {integration: 'misp', misp: {...found.misp, value: 'canary.mispwazuh.evil.example'}})).toBe(ids.iocFound)
    expect(deepestMatch(misp.rules, [root], error)).toBe(ids.error)
    expect(deepestMatch(misp.rules, [root], authError)).toBe(ids.setupError)
    expect(deepestMatch(misp.rules, [root], other)).toBeUndefined()
    expect(misp.rules.find((rule) => rule.id === ids.iocFound)?.level).toBe(12)
    expect(misp.rules.find((rule) => rule.id === ids.error)?.level).toBe(5)
    const description = childElements(misp.rules.find((rule) => rule.id === ids.iocFound)!.element!, 'description')[0]!
    expect(elementText(misp.text, description)).toMatch(/\$\(misp\.category\).*\$\(misp\.value\)/)
  })
})

describe('hand-edited files', () => {
  it('keeps CRLF line endings', async () => {
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replaceAll('\n', '\r\n'))
    tree.write('etc/rules/local_rules.xml', tree.read('etc/rules/local_rules.xml').replaceAll('\n', '\r\n'))
    await configure()
    for (const file of ['etc/ossec.conf', 'etc/rules/local_rules.xml']) {
      const text = tree.read(file)
      expect(text.match(/(?<!\r)\n/g), file).toBeNull()
      expect(text).toContain('mispwazuh:begin')
    }

    const {plan} = await configure()
    expect(plan.changes).toEqual([])
  })

  it('indents with tabs like the file', async () => {
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replaceAll(/^((?: {2})+)/gm, (spaces) => '\t'.repeat(spaces.length / 2)))
    await configure()
    const text = tree.read('etc/ossec.conf')
    expect(text).toContain('\t<!-- mispwazuh:begin custom-misp-integration')
    expect(text).toContain('\t<integration>\n\t\t<name>custom-misp</name>')
    expect((await planWazuhConfig(target, options())).changes).toEqual([])
  })

  it('keeps comments with -- and escaped <', async () => {
    const conf = tree.read('etc/ossec.conf').replace('<ossec_config>', '<ossec_config>\n  <!-- changed -- by hand -->')
    tree.write('etc/ossec.conf', conf)
    const rules = `${tree.read('etc/rules/local_rules.xml')}\n<!-- keep -- this -->\n<group name="local,">\n  <rule id="100050" level="3">\n    <if_sid>100001</if_sid>\n    <regex>\\<(\\d+)></regex>\n    <description>escaped</description>\n  </rule>\n</group>\n`
    tree.write('etc/rules/local_rules.xml', rules)
    await configure()
    expect(tree.read('etc/ossec.conf').startsWith(conf.slice(0, conf.indexOf('</cluster>')))).toBe(true)
    expect(tree.read('etc/rules/local_rules.xml').startsWith(rules)).toBe(true)
    expect((await planWazuhConfig(target, options())).changes).toEqual([])
  })

  it('inserts into the first of three ossec_config', async () => {
    const third = '\n<ossec_config>\n  <localfile>\n    <log_format>syslog</log_format>\n    <location>/var/log/custom.log</location>\n  </localfile>\n</ossec_config>\n'
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf') + third)
    await configure()
    const conf = parseWazuhXml(tree.read('etc/ossec.conf'))
    const roots = conf.roots.filter((root) => root.name === 'ossec_config')
    expect(roots).toHaveLength(3)
    expect(readIntegrationBlocks(conf)[0]?.element.parent).toBe(roots[0])
    expect(tree.read('etc/ossec.conf').endsWith(third)).toBe(true)
  })

  it('takes over a hand-made integration block', async () => {
    const handMade = '  <integration>\n    <name>custom-misp</name>\n    <hook_url>https://misp.local</hook_url>\n    <api_key>SECRETKEY123</api_key>\n    <group>sysmon_event1,sysmon_event3,sysmon_event_22</group>\n    <alert_format>json</alert_format>\n  </integration>\n'
    const conf = tree.read('etc/ossec.conf').replace('  <localfile>\n    <log_format>journald</log_format>', `${handMade}\n  <localfile>\n    <log_format>journald</log_format>`)
    tree.write('etc/ossec.conf', conf)
    const plan = await planWazuhConfig(target, options())
    expect(plan.changes[0]?.summary).toMatch(/takes over the hand-made custom-misp <integration> block at line \d+/)
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})

    const written = parseWazuhXml(tree.read('etc/ossec.conf'))
    const blocks = readIntegrationBlocks(written)
    expect(blocks).toHaveLength(1)
    expect(blocks[0]?.managed).toBe(true)
    expect(blocks[0]?.element.parent).toBe(written.roots.filter((root) => root.name === 'ossec_config')[1])
    expect(tree.read('etc/ossec.conf')).not.toContain('SECRETKEY123')
    expect((await planWazuhConfig(target, options())).changes).toEqual([])
  })

  it('removes a second hand-made block', async () => {
    await configure()
    const extra = '  <integration>\n    <name>custom-misp</name>\n    <group>sysmon_event1</group>\n  </integration>\n'
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replace('  <localfile>\n    <log_format>journald</log_format>', `${extra}  <localfile>\n    <log_format>journald</log_format>`))
    const plan = await planWazuhConfig(target, options())
    expect(plan.changes[0]?.summary).toMatch(/removes a second custom-misp <integration> block/)
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})
    expect(readIntegrationBlocks(parseWazuhXml(tree.read('etc/ossec.conf')))).toHaveLength(1)
  })

  it('takes over the guide rules', async () => {
    const guide = [
      '<group name="windows,sysmon,">',
      '  <rule id="61650" level="3" overwrite="yes">',
      '    <if_sid>61600</if_sid>',
      '    <field name="win.system.eventID">^22$</field>',
      '    <description>Sysmon - Event 22: DNS Query event</description>',
      '    <group>sysmon_event_22,</group>',
      '  </rule>',
      '</group>',
      '',
      '<group name="powershell,">',
      '  <rule id="100502" level="2">',
      '    <if_sid>921101</if_sid>',
      '    <field name="win.eventdata.image">powershell.exe</field>',
      '    <description>PowerShell network connection</description>',
      '  </rule>',
      '  <rule id="100503" level="13" frequency="5" timeframe="60">',
      '    <if_matched_sid>100502</if_matched_sid>',
      '    <description>PowerShell connections burst</description>',
      '  </rule>',
      '</group>',
      '',
      '<group name="misp,">',
      '  <rule id="100620" level="10">',
      '    <field name="integration">misp</field>',
      '    <description>MISP Events</description>',
      '  </rule>',
      '  <rule id="100621" level="5">',
      '    <if_sid>100620</if_sid>',
      '    <field name="misp.error">\\.+</field>',
      '    <description>MISP - Error connecting to API</description>',
      '  </rule>',
      '  <rule id="100622" level="12">',
      '    <if_sid>100620</if_sid>',
      '    <field name="misp.category">\\.+</field>',
      '    <description>MISP - IoC found in Threat Intel</description>',
      '  </rule>',
      '</group>',
      '',
    ].join('\n')
    const before = tree.read('etc/rules/local_rules.xml')
    tree.write('etc/rules/local_rules.xml', `${before}\n${guide}`)
    const plan = await planWazuhConfig(target, options())
    const summary = plan.changes.find((change) => change.path?.endsWith('local_rules.xml'))?.summary ?? ''
    for (const id of [61_650, 100_502, 100_503, 100_620, 100_621, 100_622]) expect(summary).toContain(String(id))
    expect(plan.adopted).toHaveLength(6)
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})

    const local = ruleFile('etc/rules/local_rules.xml')
    const ids = local.rules.map((rule) => rule.id)
    for (const id of [100_502, 100_503, 100_620, 100_621, 100_622]) expect(ids).not.toContain(id)
    expect(local.rules.filter((rule) => rule.id === 61_650)).toHaveLength(1)
    expect(local.rules.find((rule) => rule.id === 61_650)?.managed).toBe(true)
    expect(local.text.startsWith(before)).toBe(true)
    expect((await planWazuhConfig(target, options())).changes).toEqual([])
  })

  it('takes over a pasted misp.xml', async () => {
    const pasted = '<group name="misp,">\n  <rule id="100620" level="10">\n    <field name="integration">misp</field>\n    <description>MISP Events</description>\n    <options>no_full_log</options>\n  </rule>\n  <rule id="100621" level="5">\n    <if_sid>100620</if_sid>\n    <field name="misp.error">\\.+</field>\n    <description>MISP - Error connecting to API</description>\n    <options>no_full_log</options>\n    <group>misp_error,</group>\n  </rule>\n  <rule id="100622" level="12">\n    <field name="misp.category">\\.+</field>\n    <description>MISP - IoC found in Threat Intel - Category: $(misp.category), Attribute: $(misp.value)</description>\n    <options>no_full_log</options>\n    <group>misp_alert,</group>\n  </rule>\n</group>\n'
    tree.write('etc/rules/misp.xml', pasted)
    const plan = await planWazuhConfig(target, options())
    const summary = plan.changes.find((change) => change.path?.endsWith('misp.xml'))?.summary ?? ''
    expect(summary).toMatch(/^update .*misp\.xml and set wazuh:wazuh 0660 \(now root:root 0644\): takes over hand-made rule 100620 at line 2; takes over hand-made rule 100621 at line 7; takes over hand-made rule 100622 at line 14$/)
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})

    const misp = ruleFile('etc/rules/misp.xml')
    expect(misp.text.startsWith('<!-- mispwazuh:begin misp-rules')).toBe(true)
    expect(misp.rules.every((rule) => rule.managed)).toBe(true)
    expect(misp.rules.map((rule) => rule.id)).toEqual([100_610, 100_611, 100_612, 100_613, 100_614, 100_615])
    expect(ownerOf('etc/rules/misp.xml').mode).toBe(0o660)
    expect((await planWazuhConfig(target, options())).changes).toEqual([])
  })

  it('leaves an unrelated rule with a guide ID', async () => {
    const rule = '\n<group name="local,">\n  <rule id="100502" level="3">\n    <if_sid>100001</if_sid>\n    <description>ssh from the office</description>\n  </rule>\n</group>\n'
    tree.write('etc/rules/local_rules.xml', tree.read('etc/rules/local_rules.xml') + rule)
    const plan = await planWazuhConfig(target, options())
    expect(plan.adopted).toEqual([])
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})
    expect(ruleFile('etc/rules/local_rules.xml').rules.some((candidate) => candidate.id === 100_502 && !candidate.managed)).toBe(true)
  })

  it('takes over a custom-misp.py block', async () => {
    const handMade = '  <integration>\n    <name>custom-misp.py</name>\n    <group>sysmon_event_22</group>\n    <alert_format>json</alert_format>\n  </integration>\n\n'
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replace('  <ruleset>\n', `${handMade}  <ruleset>\n`))
    const plan = await planWazuhConfig(target, options())
    expect(plan.changes[0]?.summary).toMatch(/takes over the hand-made custom-misp\.py <integration> block at line \d+/)
    await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})
    expect(tree.read('etc/ossec.conf')).not.toContain('custom-misp.py')
  })

  it('warns about a second ruleset section', async () => {
    const second = '\n<ossec_config>\n  <ruleset>\n    <rule_dir>ruleset/rules</rule_dir>\n    <rule_dir>etc/rules</rule_dir>\n    <list>etc/lists/misp-domains</list>\n  </ruleset>\n</ossec_config>\n'
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf') + second)
    const plan = await planWazuhConfig(target, options())
    expect(plan.warnings.some((warning) => warning.includes('2 <ruleset> sections'))).toBe(true)
    const conf = plan.files.find((file) => file.desired.path.endsWith('ossec.conf'))!
    expect(String(conf.desired.content).match(/<ruleset>/g)).toHaveLength(2)
  })

  it('rejects a ruleset that skips etc/rules', async () => {
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replace('    <rule_dir>etc/rules</rule_dir>\n', ''))
    const before = tree.snapshot()
    const error = await planWazuhConfig(target, options()).catch((caught: unknown) => caught)
    expect((error as {code?: string}).code).toBe('wazuh_rules_not_loaded')
    expect((error as Error).message).toContain('etc/rules/local_rules.xml and etc/rules/misp.xml')
    expect(tree.snapshot()).toEqual(before)
  })

  it('rejects a colliding rule ID', async () => {
    const rule = '\n<group name="local,">\n  <rule id="100611" level="3">\n    <if_sid>100001</if_sid>\n    <description>someone else</description>\n  </rule>\n</group>\n'
    tree.write('etc/rules/local_rules.xml', tree.read('etc/rules/local_rules.xml') + rule)
    const before = tree.snapshot()
    const error = await planWazuhConfig(target, options()).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(RuleIdCollisionError)
    expect((error as Error).message).toMatch(/rule 100611 in etc\/rules\/local_rules\.xml line 2\d/)
    expect((error as RuleIdCollisionError).fix).toContain('--rule-id-base 100620')
    expect(tree.snapshot()).toEqual(before)
  })

  it('renumbers on request', async () => {
    const rule = '\n<group name="local,">\n  <rule id="100611" level="3">\n    <if_sid>100001</if_sid>\n    <description>someone else</description>\n  </rule>\n</group>\n'
    tree.write('etc/rules/local_rules.xml', tree.read('etc/rules/local_rules.xml') + rule)
    const {plan} = await configure({renumberRuleIds: true})
    expect(plan.ruleIds.base).toBe(100_620)
    expect(plan.renumberedFrom).toBe(100_600)
    expect((await planWazuhConfig(target, options({renumberRuleIds: true}))).changes).toEqual([])
  })

  it('rejects a malformed ossec.conf', async () => {
    tree.write('etc/ossec.conf', tree.read('etc/ossec.conf').replace('</global>', ''))
    const before = tree.snapshot()
    const error = await planWazuhConfig(target, options()).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MalformedWazuhFileError)
    expect((error as Error).message).toContain('ossec.conf is not well formed at line')
    expect(tree.snapshot()).toEqual(before)
  })

  it('rejects a malformed local_rules.xml', async () => {
    tree.write('etc/rules/local_rules.xml', `${tree.read('etc/rules/local_rules.xml')}\n<group name="x,">\n  <rule id="100070" level="3">\n</group>\n`)
    const before = tree.snapshot()
    await expect(planWazuhConfig(target, options())).rejects.toThrow(/local_rules\.xml is not well formed at line 2[0-9]/)
    expect(tree.snapshot()).toEqual(before)
  })

  it('rejects a broken managed region', async () => {
    await configure()
    tree.write('etc/rules/misp.xml', tree.read('etc/rules/misp.xml').replace(/<!-- mispwazuh:end misp-rules -->\n/, ''))
    await expect(planWazuhConfig(target, options())).rejects.toThrow(/has no matching end marker/)
  })
})

describe('validation', () => {
  it('failure restores every file', async () => {
    const before = tree.snapshot()
    tree.failValidation("2026/12/04 20:00:00 wazuh-analysisd: ERROR: (1226): Error reading XML file 'etc/rules/misp.xml': XMLERR: Element 'rule' not closed. (line 12)\n", 1)
    const before2 = tree.snapshot()
    const plan = await planWazuhConfig(target, options())
    const error = await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(WazuhValidationError)
    expect((error as Error).message).toContain("etc/rules/misp.xml line 12: wazuh-analysisd: ERROR: (1226)")
    expect((error as Error).message).toMatch(/All 3 file\(s\) of this apply were restored/)
    expect(tree.snapshot()).toEqual(before2)
    expect(before2.size).toBe(before.size + 2)
    expect(existsSync(tree.file('etc/mispwazuh'))).toBe(false)
  })

  it('new warning fails with exit 0', async () => {
    tree.failValidation("2026/12/04 20:00:00 wazuh-analysisd: WARNING: (7612): Rule ID '100610' is duplicated. Only the first occurrence will be considered.\n", 0)
    const before = tree.snapshot()
    const plan = await planWazuhConfig(target, options())
    await expect(applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})).rejects.toThrow(/Rule ID '100610' is duplicated/)
    expect(tree.snapshot()).toEqual(before)
  })

  it('rejects files changed after the plan', async () => {
    const plan = await planWazuhConfig(target, options())
    tree.write('etc/rules/local_rules.xml', `${tree.read('etc/rules/local_rules.xml')}<!-- edited meanwhile -->\n`)
    const before = tree.snapshot()
    await expect(applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test'})).rejects.toThrow(/local_rules\.xml changed after the plan was made/)
    expect(tree.snapshot()).toEqual(before)
  })

  it('old warnings do not fail', async () => {
    const script = tree.file('bin/old-warning')
    writeFileSync(script, `#!/bin/sh\necho "$(date '+%Y/%m/%d %H:%M:%S') wazuh-analysisd: WARNING: (7617): Signature ID '1' was not found."\n`, {mode: 0o750})
    const plan = await planWazuhConfig(target, options())
    const record = await applyWazuhFiles(target, plan.files, {wazuhDir: tree.dir, command: 'test', validators: [{name: 'wazuh-analysisd', argv: [script]}]})
    expect(record?.files).toHaveLength(3)
  })
})

describe('rollback', () => {
  it('restores the files before the apply', async () => {
    const before = tree.snapshot()
    await configure()
    const plan = await planRollback(target, tree.dir, new Redactor())
    expect(plan.conflicts).toEqual([])
    expect(plan.files.map((file) => file.action)).toEqual(['restore', 'restore', 'remove'])
    const result = await applyRollback(target, tree.dir, plan)
    expect(result.removed).toEqual([tree.file('etc/rules/misp.xml')])

    const after = tree.snapshot()
    for (const [file, state] of before) expect(after.get(file), file).toEqual(state)
    await expect(planRollback(target, tree.dir)).rejects.toThrow(/No mispwazuh apply to roll back/)
  })

  it('rejects files changed after the apply', async () => {
    await configure()
    tree.write('etc/rules/local_rules.xml', `${tree.read('etc/rules/local_rules.xml')}<!-- later edit -->\n`)
    const plan = await planRollback(target, tree.dir)
    expect(plan.conflicts).toEqual([`${tree.file('etc/rules/local_rules.xml')}: the file changed after the apply`])
    await expect(applyRollback(target, tree.dir, plan)).rejects.toThrow(/changed after the apply/)
    expect(tree.read('etc/rules/local_rules.xml')).toContain('later edit')
    await applyRollback(target, tree.dir, plan, {force: true})
    expect(tree.read('etc/rules/local_rules.xml')).toBe(readFileSync('test/fixtures/wazuh/rules/local_rules.xml', 'utf8'))
  })

  it('restores a run killed halfway', async () => {
    const before = tree.snapshot()
    await configure()
    const manifest = await readManifest(target, tree.dir)
    expect(manifest.applies[0]?.status).toBe('applied')

    // As if the run died after writing ossec.conf: local_rules.xml still old, misp.xml absent.
    manifest.applies[0]!.status = 'pending'
    writeFileSync(tree.file('etc/mispwazuh/config-applies.json'), JSON.stringify(manifest))
    writeFileSync(tree.file('etc/rules/local_rules.xml'), before.get('etc/rules/local_rules.xml')!.content)
    const localBackup = manifest.applies[0]!.files[1]!.backup!
    const {rmSync} = await import('node:fs')
    rmSync(localBackup)
    rmSync(tree.file('etc/rules/misp.xml'))

    const plan = await planRollback(target, tree.dir)
    expect(plan.files.map((file) => file.action)).toEqual(['restore', 'none', 'none'])
    expect(plan.conflicts).toEqual([])
    await applyRollback(target, tree.dir, plan)
    expect(tree.snapshot().get('etc/ossec.conf')).toEqual(before.get('etc/ossec.conf'))
  })

  it('rejects a manifest path outside the tree', async () => {
    await configure()
    const manifest = await readManifest(target, tree.dir)
    manifest.applies[0]!.files[0]!.path = '/etc/passwd'
    writeFileSync(tree.file('etc/mispwazuh/config-applies.json'), JSON.stringify(manifest))
    await expect(planRollback(target, tree.dir)).rejects.toThrow(/outside/)
  })
})

describe('inspect and step', () => {
  it('inspect reports the applied configuration', async () => {
    await configure()
    const report = await inspectWazuhConfig(target, tree.dir)
    expect(report.integrationBlocks).toHaveLength(1)
    expect(report.unlistedGroups).toEqual([])
    expect(report.missingGroups.map((entry) => entry.group)).toEqual(['sysmon_eid3_detections', 'sysmon_eid7_detections'])
    expect(report.sysmonRuleLevels.find((entry) => entry.ruleId === 61_650)).toEqual({ruleId: 61_650, eventId: 22, level: 3, reachesAlerts: true})
    expect(report.ruleIds?.base).toBe(100_600)
    expect(report.rulesInstalled).toBe(true)
  })

  it('inspect on the stock tree', async () => {
    const report = await inspectWazuhConfig(target, tree.dir)
    expect(report.integrationBlocks).toEqual([])
    expect(report.sysmonRuleLevels.every((entry) => entry.level === 0 && !entry.reachesAlerts)).toBe(true)
    expect(report.ruleIds).toBeUndefined()
  })

  it('step converges', async () => {
    const step = wazuhConfigStep(options({command: 'test'} as Partial<WazuhConfigOptions>))
    const log = {info() {}, warn() {}, error() {}, command() {}} as unknown as RunLog
    const context = {target, log, redactor: new Redactor(), dryRun: false, facts: new Map<string, unknown>(), progress() {}}
    const first = await step.check(context)
    expect(first.status).toBe('change')
    await step.apply(context, first)
    const second = await step.check(context)
    expect(second.status).toBe('ok')
    expect(second.reason).toMatch(/^unchanged/)
    expect(context.facts.get('wazuh.restartNeeded')).toBe(true)
  })
})
