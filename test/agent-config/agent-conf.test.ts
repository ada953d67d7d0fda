import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {MispwazuhError} from '../../src/errors.js'
import {addSysmonLocalfile, assertGroupName, groupPaths, parseGroupAgents} from '../../src/wazuh/agent-groups.js'
import {MalformedWazuhFileError, parseWazuhXml} from '../../src/wazuh/xml-text.js'

const STOCK = readFileSync('test/fixtures/wazuh/config/agent.conf.default.xml', 'utf8')

const SYSMON_BLOCK = [
  '<agent_config os="Windows">',
  '  <!-- mispwazuh: Sysmon events for the MISP integration -->',
  '  <localfile>',
  '    <location>Microsoft-Windows-Sysmon/Operational</location>',
  '    <log_format>eventchannel</log_format>',
  '  </localfile>',
  '</agent_config>',
  '',
].join('\n')

describe('addSysmonLocalfile', () => {
  it('appends a Windows block to the stock agent.conf', () => {
    const edit = addSysmonLocalfile(STOCK, 'agent.conf')
    expect(edit.changed).toBe(true)
    expect(edit.text).toBe(`${STOCK}\n${SYSMON_BLOCK}`)
  })

  it('changes nothing the second time', () => {
    const once = addSysmonLocalfile(STOCK, 'agent.conf').text
    const twice = addSysmonLocalfile(once, 'agent.conf')
    expect(twice.changed).toBe(false)
    expect(twice.text).toBe(once)
    expect(twice.reason).toMatch(/already reads Microsoft-Windows-Sysmon\/Operational \(in <agent_config os="Windows">\)/)
  })

  it('writes a new file with only the Windows block', () => {
    expect(addSysmonLocalfile('', 'agent.conf').text).toBe(SYSMON_BLOCK)
  })

  it('adds to an existing Windows block and keeps everything else byte for byte', () => {
    const original = [
      '<!-- site policy -- keep -->',
      '<agent_config>',
      '  <labels><label key="site">HQ</label></labels>',
      '</agent_config>',
      '',
      '<agent_config os="Windows">',
      '  <localfile>',
      '    <location>Security</location>',
      '    <log_format>eventchannel</log_format>',
      '    <query>Event/System[EventID != 5145]</query>',
      '  </localfile>',
      '</agent_config>',
      '',
      '<agent_config os="Linux">',
      '  <localfile><location>/var/log/auth.log</location><log_format>syslog</log_format></localfile>',
      '</agent_config>',
      '',
    ].join('\n')
    const closing = original.indexOf('</agent_config>', original.indexOf('os="Windows"'))
    const edit = addSysmonLocalfile(original, 'agent.conf')
    const inserted = ['  <!-- mispwazuh: Sysmon events for the MISP integration -->', '  <localfile>', '    <location>Microsoft-Windows-Sysmon/Operational</location>', '    <log_format>eventchannel</log_format>', '  </localfile>', ''].join('\n')
    expect(edit.text).toBe(original.slice(0, closing) + inserted + original.slice(closing))
    expect(edit.reason).toBe('adds the Sysmon <localfile> to the <agent_config os="Windows"> block')
  })

  it('keeps CRLF line endings and tab indentation', () => {
    const original = '<agent_config os="Windows">\r\n\t<localfile>\r\n\t\t<location>Application</location>\r\n\t\t<log_format>eventchannel</log_format>\r\n\t</localfile>\r\n</agent_config>\r\n'
    const edit = addSysmonLocalfile(original, 'agent.conf')
    const expected = original.replace(
      '</agent_config>',
      '\t<!-- mispwazuh: Sysmon events for the MISP integration -->\r\n\t<localfile>\r\n\t\t<location>Microsoft-Windows-Sysmon/Operational</location>\r\n\t\t<log_format>eventchannel</log_format>\r\n\t</localfile>\r\n</agent_config>',
    )
    expect(edit.text).toBe(expected)
    expect(edit.text.replaceAll('\r\n', '')).not.toContain('\n')
  })

  it('appends a Windows block to a file without a final newline', () => {
    const original = '<agent_config>\n  <labels/>\n</agent_config>'
    expect(addSysmonLocalfile(original, 'agent.conf').text).toBe(`${original}\n\n${SYSMON_BLOCK}`)
  })

  it('fills an empty Windows element', () => {
    expect(addSysmonLocalfile('<agent_config os="Windows"/>\n', 'agent.conf').text).toBe(SYSMON_BLOCK)
    expect(addSysmonLocalfile('<agent_config os="Windows"></agent_config>\n', 'agent.conf').text).toBe(SYSMON_BLOCK)
  })

  it('accepts the channel in a block for every agent', () => {
    const original = '<agent_config>\n  <localfile>\n    <location>Microsoft-Windows-Sysmon/Operational</location>\n    <log_format>eventchannel</log_format>\n  </localfile>\n</agent_config>\n'
    const edit = addSysmonLocalfile(original, 'agent.conf')
    expect(edit.changed).toBe(false)
    expect(edit.reason).toMatch(/in <agent_config>, for every agent/)
  })

  it('does not count the channel in a block for one agent name', () => {
    const original = '<agent_config name="WIN-01">\n  <localfile>\n    <location>Microsoft-Windows-Sysmon/Operational</location>\n    <log_format>eventchannel</log_format>\n  </localfile>\n</agent_config>\n'
    const edit = addSysmonLocalfile(original, 'agent.conf')
    expect(edit.changed).toBe(true)
    expect(edit.text.startsWith(original)).toBe(true)
  })

  it('ignores a commented-out Sysmon localfile', () => {
    const original = '<agent_config os="Windows">\n  <!--\n  <localfile>\n    <location>Microsoft-Windows-Sysmon/Operational</location>\n    <log_format>eventchannel</log_format>\n  </localfile>\n  -->\n</agent_config>\n'
    expect(addSysmonLocalfile(original, 'agent.conf').changed).toBe(true)
  })

  it('rejects the channel with another log format', () => {
    const original = '<agent_config os="Windows">\n  <localfile>\n    <location>Microsoft-Windows-Sysmon/Operational</location>\n    <log_format>syslog</log_format>\n  </localfile>\n</agent_config>\n'
    expect(() => addSysmonLocalfile(original, 'shared/windows/agent.conf')).toThrow(MispwazuhError)
    expect(() => addSysmonLocalfile(original, 'shared/windows/agent.conf')).toThrow(/log_format "syslog" instead of eventchannel/)
  })

  it('rejects a malformed file without editing it', () => {
    expect(() => addSysmonLocalfile('<agent_config os="Windows">\n  <localfile>\n</agent_config>\n', 'agent.conf')).toThrow(MalformedWazuhFileError)
  })

  it('produces a file with only agent_config roots', () => {
    const edited = addSysmonLocalfile(STOCK, 'agent.conf').text
    expect(parseWazuhXml(edited, 'agent.conf').roots.map((root) => [root.name, root.attributes])).toEqual([
      ['agent_config', {}],
      ['agent_config', {os: 'Windows'}],
    ])
  })
})

describe('group names', () => {
  it('accepts names Wazuh accepts', () => {
    for (const name of ['windows', 'Windows-Servers_2', 'dc.hq', 'default']) expect(() => assertGroupName(name)).not.toThrow()
  })

  it('rejects names Wazuh rejects or that leave etc/shared', () => {
    for (const name of ['', '.', '..', '../etc', 'win dows', "win'", 'grüppe', 'a/b', 'x'.repeat(256)]) {
      expect(() => assertGroupName(name), JSON.stringify(name)).toThrow(/Invalid agent group name/)
    }
  })

  it('maps a group to its shared agent.conf', () => {
    expect(groupPaths('windows')).toEqual({
      sharedDir: '/var/ossec/etc/shared/windows',
      agentConf: '/var/ossec/etc/shared/windows/agent.conf',
      backupDir: '/var/ossec/etc/mispwazuh/backups/shared/windows',
      agentGroups: '/var/ossec/bin/agent_groups',
      verifyAgentConf: '/var/ossec/bin/verify-agent-conf',
    })
  })
})

describe('parseGroupAgents', () => {
  it('reads the agent_groups -l -g listing', () => {
    const output = "2 agent(s) in group 'windows':\n  ID: 001  Name: WIN-01.\n  ID: 017  Name: dc.hq.example.\n"
    expect(parseGroupAgents(output)).toEqual([
      {id: '001', name: 'WIN-01'},
      {id: '017', name: 'dc.hq.example'},
    ])
  })

  it('returns no agents for an empty group', () => {
    expect(parseGroupAgents("No agents found in group 'windows'.\n")).toEqual([])
  })
})
