import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {findManagedRegions, renderManagedRegion} from '../../src/wazuh/managed-region.js'
import {renderWazuhTemplate, wazuhText} from '../../src/wazuh/templates.js'
import {
  applyEdits,
  childText,
  dedent,
  descendants,
  detectEol,
  detectIndentUnit,
  formatFragment,
  MalformedWazuhFileError,
  maskWazuhSyntax,
  parseWazuhXml,
  removeElementEdit,
} from '../../src/wazuh/xml-text.js'

const OSSEC_CONF = readFileSync('test/fixtures/wazuh/config/ossec.conf.manager-ubuntu24.04-v4.12.0.xml', 'utf8')
const SYSMON_RULES = readFileSync('test/fixtures/wazuh/rules/0595-win-sysmon_rules.xml', 'utf8')

describe('maskWazuhSyntax', () => {
  it('keeps length and masks Wazuh escapes', () => {
    const text = '<regex>\\<(\\d+)></regex>\n<match>&block=1&amp;</match><!-- a -- b -->'
    const masked = maskWazuhSyntax(text)
    expect(masked).toHaveLength(text.length)
    expect(masked).toContain('<regex>\\_(\\d+)></regex>')
    expect(masked).toContain('<match>_block=1&amp;</match>')
    expect(masked).toContain('<!-- a -- b -->')
  })
})

describe('parseWazuhXml', () => {
  it('finds both ossec_config roots with offsets', () => {
    const document = parseWazuhXml(OSSEC_CONF, 'ossec.conf')
    const roots = document.roots.filter((root) => root.name === 'ossec_config')
    expect(roots).toHaveLength(2)
    const first = roots[0]!
    expect(OSSEC_CONF.slice(first.start, first.start + 14)).toBe('<ossec_config>')
    expect(OSSEC_CONF.slice(first.innerEnd, first.end)).toBe('</ossec_config>')
    expect(document.eol).toBe('\n')
    expect(document.indentUnit).toBe('  ')
  })

  it('reads leaf text raw', () => {
    const document = parseWazuhXml(OSSEC_CONF, 'ossec.conf')
    const alerts = descendants(document.roots).find((element) => element.name === 'alerts')!
    expect(childText(OSSEC_CONF, alerts, 'log_alert_level')).toBe('3')
    const command = descendants(document.roots).find((element) => element.name === 'command' && element.parent?.name === 'localfile' && OSSEC_CONF.slice(element.innerStart, element.innerEnd).includes('netstat'))!
    expect(OSSEC_CONF.slice(command.innerStart, command.innerEnd)).toContain("sed 's/\\([[:alnum:]]\\+\\)")
  })

  it('parses a multi-root rule file with attributes', () => {
    const document = parseWazuhXml(SYSMON_RULES, '0595-win-sysmon_rules.xml')
    expect(document.roots.map((root) => root.name)).toEqual(['var', 'group', 'group', 'group'])
    const rule = descendants(document.roots).find((element) => element.name === 'rule' && element.attributes.id === '61650')!
    expect(rule.attributes.level).toBe('0')
    expect(SYSMON_RULES.slice(rule.start, rule.end)).toMatch(/^<rule id="61650" level="0">[\s\S]*<\/rule>$/)
  })

  it('accepts an escaped < in a regex', () => {
    const text = '<group name="x,">\n  <rule id="100100" level="3">\n    <regex>\\<(\\d+)></regex>\n  </rule>\n</group>\n'
    const document = parseWazuhXml(text, 'rules.xml')
    const regex = descendants(document.roots).find((element) => element.name === 'regex')!
    expect(text.slice(regex.innerStart, regex.innerEnd)).toBe('\\<(\\d+)>')
  })

  it('rejects an unclosed element with its line', () => {
    const text = '<ossec_config>\n  <global>\n    <a>1</a>\n</ossec_config>\n'
    expect(() => parseWazuhXml(text, 'ossec.conf')).toThrow(MalformedWazuhFileError)
    try {
      parseWazuhXml(text, 'ossec.conf')
    } catch (error) {
      expect((error as MalformedWazuhFileError).line).toBe(4)
      expect((error as Error).message).toContain('ossec.conf')
    }
  })

  it('rejects a stray <', () => {
    expect(() => parseWazuhXml('<a>1 < 2</a>\n', 'f.xml')).toThrow(/not well formed at line 1/)
  })
})

describe('text helpers', () => {
  it('detects CRLF and tabs', () => {
    expect(detectEol('<a>\r\n</a>\r\n')).toBe('\r\n')
    expect(detectIndentUnit('<a>\n\t<b/>\n\t\t<c/>\n</a>\n')).toBe('\t')
    expect(detectIndentUnit('<a>\n    <b/>\n        <c/>\n</a>\n')).toBe('    ')
  })

  it('formats a fragment in the file style', () => {
    expect(formatFragment('<a>\n  <b/>\n</a>\n', '\t', '\t', '\r\n')).toBe('\t<a>\r\n\t\t<b/>\r\n\t</a>\r\n')
  })

  it('removes an element with its lines', () => {
    const text = '<r>\n  <a>1</a>\n  <b>2</b>\n</r>\n'
    const document = parseWazuhXml(text)
    const a = document.roots[0]!.children[0]!
    expect(applyEdits(text, [removeElementEdit(text, a)])).toBe('<r>\n  <b>2</b>\n</r>\n')
  })

  it('rejects overlapping edits', () => {
    expect(() => applyEdits('abcdef', [{start: 0, end: 3, replacement: ''}, {start: 2, end: 4, replacement: ''}])).toThrow(/Overlapping/)
  })

  it('dedents a block', () => {
    expect(dedent('    <a>\n      <b/>\n    </a>')).toBe('<a>\n  <b/>\n</a>')
  })
})

describe('managed regions', () => {
  it('renders and finds a region', () => {
    const region = renderManagedRegion('demo', '<a>\n  <b/>\n</a>', '  ', '  ', '\n')
    const text = `<root>\n${region}</root>\n`
    const [found] = findManagedRegions(text, 'f.xml')
    expect(found?.id).toBe('demo')
    expect(text.slice(found!.start, found!.end)).toBe(region)
    expect(text.slice(found!.innerStart, found!.innerEnd)).toBe('  <a>\n    <b/>\n  </a>\n')
  })

  it('rejects a begin marker without end', () => {
    expect(() => findManagedRegions('<!-- mispwazuh:begin x (note) -->\n<a/>\n', 'f.xml')).toThrow(/no matching end marker/)
  })
})

describe('Wazuh templates', () => {
  it('rejects markup in values', () => {
    expect(() => wazuhText('a<b')).toThrow(/cannot read/)
    expect(wazuhText('sysmon_event1,sysmon_event_22')).toBe('sysmon_event1,sysmon_event_22')
  })

  it('renders the integration block without HTML escaping', () => {
    const xml = renderWazuhTemplate('integration.xml.hbs', {name: 'custom-misp', groups: 'a,b', timeoutSupported: true, timeout: 10, retries: 2})
    expect(xml).toContain('<group>a,b</group>')
    expect(xml).toContain('<timeout>10</timeout>')
    const older = renderWazuhTemplate('integration.xml.hbs', {name: 'custom-misp', groups: 'a', timeoutSupported: false, timeout: 10, retries: 2})
    expect(older).not.toContain('<timeout>')
  })
})

describe('editOssecConf', () => {
  it('handles a one-line ossec_config', async () => {
    const {editOssecConf, readIntegrationBlocks} = await import('../../src/wazuh/ossec-conf.js')
    const text = '<ossec_config><global><logall>no</logall></global></ossec_config>\n'
    const edit = editOssecConf(parseWazuhXml(text, 'ossec.conf'), '<integration>\n  <name>custom-misp</name>\n</integration>')
    expect(edit.text.startsWith('<ossec_config><global><logall>no</logall></global>\n  <!-- mispwazuh:begin custom-misp-integration')).toBe(true)
    expect(edit.text.endsWith('<!-- mispwazuh:end custom-misp-integration -->\n</ossec_config>\n')).toBe(true)
    const again = editOssecConf(parseWazuhXml(edit.text, 'ossec.conf'), '<integration>\n  <name>custom-misp</name>\n</integration>')
    expect(again.text).toBe(edit.text)
    expect(readIntegrationBlocks(parseWazuhXml(edit.text))).toHaveLength(1)
  })

  it('rejects a file without ossec_config', async () => {
    const {editOssecConf} = await import('../../src/wazuh/ossec-conf.js')
    expect(() => editOssecConf(parseWazuhXml('<agent_config></agent_config>\n', 'ossec.conf'), '<integration/>')).toThrow(/has no <ossec_config> element/)
  })
})
