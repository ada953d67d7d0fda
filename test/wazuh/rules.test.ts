import {describe, expect, it} from 'vitest'

import {osregexToRegExp} from '../../src/wazuh/osregex.js'
import {effectiveRules, parseRuleFile, readRulesetConfig, sortByFileName, wouldLoadRuleFile} from '../../src/wazuh/rules.js'
import {parseWazuhXml} from '../../src/wazuh/xml-text.js'

function config(sections: string) {
  return readRulesetConfig(parseWazuhXml(`<ossec_config>\n${sections}\n</ossec_config>\n`, 'ossec.conf'))
}

describe('readRulesetConfig', () => {
  it('reads the stock section', () => {
    const stock = config('<ruleset>\n<rule_dir>ruleset/rules</rule_dir>\n<rule_exclude>0215-policy_rules.xml</rule_exclude>\n<rule_dir>etc/rules</rule_dir>\n</ruleset>')
    expect(stock.ruleDirs).toEqual([{dir: 'ruleset/rules', pattern: '.xml$'}, {dir: 'etc/rules', pattern: '.xml$'}])
    expect(wouldLoadRuleFile(stock, 'etc/rules/misp.xml')).toBe(true)
    expect(wouldLoadRuleFile(stock, 'ruleset/rules/0215-policy_rules.xml')).toBe(false)
    expect(wouldLoadRuleFile(stock, 'etc/rules/local_rules.xml.mispwazuh-20261204T201433988Z')).toBe(false)
  })

  it('uses the last ruleset section', () => {
    const two = config('<ruleset>\n<rule_dir>ruleset/rules</rule_dir>\n<rule_dir>etc/rules</rule_dir>\n<list>etc/lists/audit-keys</list>\n</ruleset>\n<ruleset>\n<list>etc/lists/misp</list>\n</ruleset>')
    expect(two.sections).toBe(2)
    expect(two.ruleDirs).toEqual([{dir: 'ruleset/rules', pattern: '.xml$'}])
    expect(two.lists).toEqual(['etc/lists/misp'])
    expect(wouldLoadRuleFile(two, 'etc/rules/local_rules.xml')).toBe(false)
  })

  it('places bare rule_include under ruleset/rules', () => {
    const included = config('<ruleset>\n<rule_include>extra.xml</rule_include>\n<rule_include>etc/custom/misp.xml</rule_include>\n</ruleset>')
    expect(included.includes).toEqual(['ruleset/rules/extra.xml', 'etc/custom/misp.xml'])
    expect(wouldLoadRuleFile(included, 'etc/custom/misp.xml')).toBe(true)
  })
})

describe('load order', () => {
  it('sorts by file name across directories', () => {
    expect(sortByFileName(['etc/rules/local_rules.xml', 'ruleset/rules/0595-win-sysmon_rules.xml', 'etc/rules/0001-early.xml', 'etc/rules/misp.xml'])).toEqual([
      'etc/rules/0001-early.xml',
      'ruleset/rules/0595-win-sysmon_rules.xml',
      'etc/rules/local_rules.xml',
      'etc/rules/misp.xml',
    ])
  })

  it('applies overwrites after the first definition', () => {
    const stock = parseRuleFile('ruleset/rules/a.xml', '<group name="g,">\n  <rule id="61650" level="0">\n    <group>x,</group>\n  </rule>\n</group>\n', {strict: true})
    const local = parseRuleFile('etc/rules/b.xml', '<group name="g,">\n  <rule id="61650" level="3" overwrite="yes">\n    <group>x,</group>\n  </rule>\n  <rule id="61650" level="9">\n  </rule>\n</group>\n', {strict: true})
    const rule = effectiveRules([stock, local]).get(61_650)
    expect(rule?.level).toBe(3)
    expect(rule?.definedIn).toBe('ruleset/rules/a.xml')
    expect(rule?.overwrittenIn).toEqual(['etc/rules/b.xml'])
  })
})

describe('parseRuleFile', () => {
  it('scans a stock file the parser rejects', () => {
    const file = parseRuleFile('ruleset/rules/odd.xml', '<group name="a,b,">\n  <rule id="5" level="3">\n    <match>x < y</match>\n  </rule>\n</group>\n', {strict: false})
    expect(file.parseError).toBeDefined()
    expect(file.rules.map((rule) => [rule.id, rule.level])).toEqual([[5, 3]])
    expect([...file.groups]).toEqual(['a', 'b'])
    expect(file.rules[0]?.groups).toEqual(['a', 'b'])
  })

  it('scans own groups and parent of a rejected file', () => {
    const text = '<group name="sysmon,">\n  <rule id="7" level="12">\n    <if_sid>61603</if_sid>\n    <match>a < b</match>\n    <group>sysmon_eid1_detections,</group>\n  </rule>\n</group>\n'
    const file = parseRuleFile('ruleset/rules/odd.xml', text, {strict: false})
    expect(file.rules[0]?.groups).toEqual(['sysmon', 'sysmon_eid1_detections'])
    expect(file.rules[0]?.ifSid).toBe('61603')
  })

  it('rejects a malformed user file', () => {
    expect(() => parseRuleFile('etc/rules/odd.xml', '<group name="a,">\n  <rule id="5" level="3">\n</group>\n', {strict: true})).toThrow(/not well formed at line 3/)
  })
})

describe('osregexToRegExp', () => {
  it('reads . as a literal dot', () => {
    expect(osregexToRegExp('.xml$').test('etc/rules/misp.xml')).toBe(true)
    expect(osregexToRegExp('.xml$').test('etc/rules/mispxxml')).toBe(false)
  })

  it('reads \\. as any character', () => {
    expect(osregexToRegExp('\\.+').test('x')).toBe(true)
    expect(osregexToRegExp('\\.+').test('')).toBe(false)
    expect(osregexToRegExp('^auth_failed$|^forbidden$').test('FORBIDDEN')).toBe(true)
    expect(osregexToRegExp('^auth_failed$|^forbidden$').test('not_forbidden')).toBe(false)
  })
})
