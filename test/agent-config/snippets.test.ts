import {readdirSync, readFileSync} from 'node:fs'

import {XMLValidator} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {Redactor} from '../../src/ui/redact.js'
import {parsePsSingleQuoted} from '../../src/windows/powershell.js'
import {agentMsiUrl, buildWindowsSnippets, msiProperty, type WindowsSnippetInput} from '../../src/windows/snippets.js'
import {shippedSysmonConfig} from '../../src/windows/sysmon-config.js'
import {lexPowerShell, type Segment} from './ps-lexer.js'

const BASE: WindowsSnippetInput = {
  managerAddress: '192.0.2.20',
  agentVersion: '4.12.0',
  registrationPasswordRequired: false,
  generatorVersion: '0.1.0',
}

// Values chosen to break naive quoting: both quote kinds, typographic quotes, PowerShell
// expansion ($, $(), backtick), spaces, MSI's own quote, and non-ASCII letters.
const ODD = {
  agentName: "Zoë's PC $(Remove-Item C:\\) `whoami` \"x\" \u2019end",
  group: "win dows'$env:EVIL",
  managerAddress: 'wazuh-manager.example.org',
  sysmonConfigUrl: "https://example.org/o'neil/$x/`y`/config.xml?a=1&b='2'",
}

/** The odd values must only appear in single-quoted literals, here-strings or comments. */
function assertOnlyInert(script: string, needles: readonly string[]): void {
  const segments = lexPowerShell(script)
  const active = segments.filter((segment) => segment.kind === 'code' || segment.kind === 'double' || segment.kind === 'hereDouble')
  for (const needle of needles) {
    for (const segment of active) expect(segment.text, `"${needle}" found in a ${segment.kind} segment`).not.toContain(needle)
  }
}

/** Returns the value of the single-quoted literal assigned to `$name`. */
function assignedLiteral(script: string, name: string): string | undefined {
  const segments = lexPowerShell(script)
  const index = segments.findIndex((segment) => segment.kind === 'code' && new RegExp(`\\$${name} = $`).test(segment.text))
  const literal: Segment | undefined = segments[index + 1]
  return literal?.kind === 'single' ? parsePsSingleQuoted(literal.text) : undefined
}

describe('agentMsiUrl', () => {
  it('follows the packages.wazuh.com layout', () => {
    expect(agentMsiUrl('4.12.0')).toBe('https://packages.wazuh.com/4.x/windows/wazuh-agent-4.12.0-1.msi')
    expect(agentMsiUrl('4.7.5', 2)).toBe('https://packages.wazuh.com/4.x/windows/wazuh-agent-4.7.5-2.msi')
  })

  it('rejects a version that is not x.y.z', () => {
    expect(() => agentMsiUrl('4.12')).toThrow(/Invalid Wazuh agent version "4.12"/)
    expect(() => agentMsiUrl("4.12.0'; calc")).toThrow(/Invalid Wazuh agent version/)
  })
})

describe('msiProperty', () => {
  it('doubles double quotes inside the value', () => {
    expect(msiProperty('WAZUH_AGENT_NAME', 'a "b" c')).toBe('WAZUH_AGENT_NAME="a ""b"" c"')
  })
})

describe('buildWindowsSnippets', () => {
  it('installs the MSI of the manager version with WAZUH_MANAGER', () => {
    const snippets = buildWindowsSnippets(BASE)
    expect(snippets.msiUrl).toBe('https://packages.wazuh.com/4.x/windows/wazuh-agent-4.12.0-1.msi')
    expect(assignedLiteral(snippets.agentInstall, 'msiUrl')).toBe(snippets.msiUrl)
    expect(assignedLiteral(snippets.agentInstall, 'msiProperties')).toBe('WAZUH_MANAGER="192.0.2.20"')
    expect(snippets.agentInstall).toContain("Start-Service -Name 'WazuhSvc'")
    expect(snippets.agentInstall).toContain("$clientKeys = Join-Path $agentDir 'client.keys'")
    expect(snippets.agentInstall.indexOf('Start-Service')).toBeLessThan(snippets.agentInstall.indexOf('$clientKeys ='))
  })

  it('adds the group and agent name as MSI properties', () => {
    const snippets = buildWindowsSnippets({...BASE, group: 'windows', agentName: 'WIN-01'})
    expect(assignedLiteral(snippets.agentInstall, 'msiProperties')).toBe('WAZUH_MANAGER="192.0.2.20" WAZUH_AGENT_GROUP="windows" WAZUH_AGENT_NAME="WIN-01"')
  })

  it('passes non-default manager ports', () => {
    const snippets = buildWindowsSnippets({...BASE, managerPort: 11514, registrationPort: 11515})
    expect(assignedLiteral(snippets.agentInstall, 'msiProperties')).toBe('WAZUH_MANAGER="192.0.2.20" WAZUH_MANAGER_PORT="11514" WAZUH_REGISTRATION_PORT="11515"')
  })

  it('keeps odd values inside single-quoted literals', () => {
    const snippets = buildWindowsSnippets({...BASE, ...ODD})
    const needles = ['Zoë', 'Remove-Item C:\\)', '`whoami`', 'win dows', '$env:EVIL', "o'neil", '$x/']
    for (const script of [snippets.agentInstall, snippets.sysmonInstall, snippets.localfileInstall, snippets.agentRestart, snippets.installScript]) {
      assertOnlyInert(script, needles)
    }
  })

  it('passes odd values through to msiexec exactly', () => {
    const snippets = buildWindowsSnippets({...BASE, ...ODD})
    const expected = [
      'WAZUH_MANAGER="wazuh-manager.example.org"',
      `WAZUH_AGENT_GROUP="win dows'$env:EVIL"`,
      `WAZUH_AGENT_NAME="Zoë's PC $(Remove-Item C:\\) \`whoami\` ""x"" \u2019end"`,
    ].join(' ')
    expect(assignedLiteral(snippets.agentInstall, 'msiProperties')).toBe(expected)
    expect(assignedLiteral(snippets.installScript, 'msiProperties')).toBe(expected)
  })

  it('downloads a Sysmon configuration URL as a literal', () => {
    const snippets = buildWindowsSnippets({...BASE, sysmonConfigUrl: ODD.sysmonConfigUrl})
    const segments = lexPowerShell(snippets.sysmonInstall)
    const uriIndex = segments.findIndex((segment) => segment.kind === 'code' && segment.text.endsWith('Invoke-WebRequest -UseBasicParsing -Uri '))
    expect(parsePsSingleQuoted(segments[uriIndex + 1]?.text ?? '')).toBe(ODD.sysmonConfigUrl)
    expect(snippets.sysmonConfigXml).toBeUndefined()
    expect(snippets.sysmonInstall).not.toContain('<Sysmon schemaversion')
  })

  it('embeds the shipped Sysmon configuration as a single-quoted here-string', () => {
    const snippets = buildWindowsSnippets(BASE)
    const hereStrings = lexPowerShell(snippets.sysmonInstall).filter((segment) => segment.kind === 'hereSingle')
    expect(hereStrings).toHaveLength(1)
    expect(hereStrings[0]?.text).toBe(`@'\n${shippedSysmonConfig().replace(/\n$/, '')}\n'@`)
    expect(snippets.sysmonConfigXml).toBe(shippedSysmonConfig())
  })

  it('installs Sysmon with -accepteula -i or updates it with -c', () => {
    const {sysmonInstall} = buildWindowsSnippets(BASE)
    expect(sysmonInstall).toContain('& $sysmonExe -accepteula -i $configPath')
    expect(sysmonInstall).toContain('& $sysmonExe -c $configPath')
    expect(sysmonInstall).toContain("-Uri 'https://download.sysinternals.com/files/Sysmon.zip'")
    expect(sysmonInstall).toContain("Get-WinEvent -ListLog 'Microsoft-Windows-Sysmon/Operational'")
  })

  it('reads the registration password at run time only when required', () => {
    const without = buildWindowsSnippets(BASE)
    expect(without.agentInstall).not.toContain('authd.pass')

    const withPassword = buildWindowsSnippets({...BASE, registrationPasswordRequired: true})
    expect(withPassword.agentInstall).toContain("Read-Host -AsSecureString -Prompt 'Wazuh agent registration password'")
    expect(withPassword.agentInstall).toContain("$passwordFile = Join-Path $agentDir 'authd.pass'")
    expect(withPassword.agentInstall).toContain("/inheritance:r /grant:r '*S-1-5-32-544:F' '*S-1-5-18:F'")
    expect(withPassword.agentInstall).not.toContain('WAZUH_REGISTRATION_PASSWORD')
    expect(withPassword.installScript).toContain('[string]$RegistrationPasswordFile')
  })

  it('restricts the password file before writing the password', () => {
    const {agentInstall} = buildWindowsSnippets({...BASE, registrationPasswordRequired: true})
    expect(agentInstall.indexOf('icacls.exe')).toBeLessThan(agentInstall.indexOf('WriteAllText($passwordFile'))
  })

  it('carries the Sysmon localfile block for the agent ossec.conf', () => {
    const {localfileXml, localfileInstall} = buildWindowsSnippets(BASE)
    expect(localfileXml).toBe(['<ossec_config>', '  <localfile>', '    <location>Microsoft-Windows-Sysmon/Operational</location>', '    <log_format>eventchannel</log_format>', '  </localfile>', '</ossec_config>', ''].join('\n'))
    const hereStrings = lexPowerShell(localfileInstall).filter((segment) => segment.kind === 'hereSingle')
    expect(hereStrings.map((segment) => segment.text)).toEqual([`@'\n${localfileXml.trimEnd()}\n'@`])
  })

  it('writes a well-formed localfile block', () => {
    const {localfileXml} = buildWindowsSnippets(BASE)
    expect(XMLValidator.validate(localfileXml)).toBe(true)
  })

  it('leaves the agent ossec.conf alone when the group delivers the localfile', () => {
    const {installScript} = buildWindowsSnippets({...BASE, group: 'windows', localfileFromGroup: true})
    expect(installScript).not.toContain('AppendAllText($ossecConf')
    expect(installScript).toContain("# The agent group 'windows' delivers the <localfile>")
  })

  it('builds one script with every section in order', () => {
    const {installScript} = buildWindowsSnippets({...BASE, group: 'windows'})
    const order = ['[CmdletBinding()]', 'IsInRole', 'msiexec.exe', "Start-Service -Name 'WazuhSvc'", '-accepteula -i', 'AppendAllText($ossecConf', "Restart-Service -Name 'WazuhSvc'"]
    const positions = order.map((text) => installScript.indexOf(text))
    for (const position of positions) expect(position).toBeGreaterThan(-1)
    expect([...positions].sort((a, b) => a - b)).toEqual(positions)
  })

  it('uses double-quoted strings only for fixed text', () => {
    const {installScript} = buildWindowsSnippets({...BASE, ...ODD, registrationPasswordRequired: true})
    const doubles = new Set(lexPowerShell(installScript).filter((segment) => segment.kind === 'double').map((segment) => segment.text))
    expect([...doubles].sort()).toEqual([`"'"`, `"Name='"`, '"`n"', '"`r`n"'])
  })

  it('survives the output redactor unchanged', () => {
    // The CLI prints through a redactor that masks `password = value` patterns, so no line of a
    // script may look like a secret assignment.
    const redactor = new Redactor()
    for (const input of [BASE, {...BASE, ...ODD, registrationPasswordRequired: true}]) {
      const snippets = buildWindowsSnippets(input)
      for (const script of [snippets.installScript, snippets.agentInstall, snippets.sysmonInstall, snippets.localfileInstall, snippets.localfileXml]) {
        expect(redactor.redact(script)).toBe(script)
      }
    }
  })

  it('rejects a value with a line break', () => {
    expect(() => buildWindowsSnippets({...BASE, agentName: 'WIN\n01'})).toThrow(/control character/)
  })
})

describe('Windows templates', () => {
  it('insert values only through the ps and hereString helpers', () => {
    for (const name of readdirSync('templates/windows').filter((file) => file.endsWith('.hbs'))) {
      const source = readFileSync(`templates/windows/${name}`, 'utf8')
      for (const match of source.matchAll(/{{2,3}([^}]*)}{2,3}/g)) {
        const expression = (match[1] ?? '').trim()
        expect(expression, `${name}: ${match[0]}`).toMatch(/^(?:ps \w+|hereString \w+|#if \w+|else|\/if)$/)
      }
    }
  })
})
