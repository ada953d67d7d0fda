/**
 * agent-config without a manager: values from flags, every output format, and --out files.
 * Run `npm run build` first: the tests run the built CLI as a user would.
 */
import {mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {runCli} from '../support/cli.js'
import {lexPowerShell} from './ps-lexer.js'

const FLAGS = ['--manager-address', '192.0.2.20', '--agent-version', '4.12.0']

function temporaryDirectory(): string {
  return mkdtempSync(path.join(tmpdir(), 'mispwazuh-agent-config-'))
}

describe('agent-config command', () => {
  it('prints the snippets under numbered headings', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--group', 'windows'])
    expect(result.exitCode, result.stderr).toBe(0)
    const headings = result.stdout.split('\n').filter((line) => line.startsWith('== '))
    expect(headings.map((line) => line.replace(/ =+$/, ''))).toEqual([
      '== 1. Install and enroll the Wazuh agent',
      '== 2. Install Sysmon, or update its configuration',
      '== 3. Forward the Microsoft-Windows-Sysmon/Operational channel',
      '== 4. Restart the agent',
    ])
    expect(result.stdout).toContain('Windows agents for the Wazuh manager 192.0.2.20 (Wazuh 4.12.0, agent group windows)')
    expect(result.stdout).toContain(`$msiProperties = 'WAZUH_MANAGER="192.0.2.20" WAZUH_AGENT_GROUP="windows"'`)
    expect(result.stdout).toContain('<location>Microsoft-Windows-Sysmon/Operational</location>')
    expect(result.stdout).toContain('Warning: No Wazuh manager was read (pass --host, or run mispwazuh on the manager)')
  })

  it('warns about a loopback manager address', async () => {
    const result = await runCli(['agent-config', '--manager-address', '127.0.0.1', '--agent-version', '4.12.0', '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const warnings = JSON.parse(result.stdout).warnings as string[]
    expect(warnings.some((warning) => warning.startsWith('The manager address 127.0.0.1 is a loopback address'))).toBe(true)
  })

  it('prints one PowerShell script with --format ps1', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--format', 'ps1', '--agent-name', 'WIN-01'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout.startsWith('# Installs the Wazuh agent for the manager \'192.0.2.20\'')).toBe(true)
    expect(() => lexPowerShell(result.stdout)).not.toThrow()
    expect(result.stdout).toContain('WAZUH_AGENT_NAME="WIN-01"')
    expect(result.stdout).not.toContain('== ')
    expect(result.stderr).toContain('Warning: No Wazuh manager was read')
  })

  it('prints the same script as --out writes', async () => {
    const directory = temporaryDirectory()
    const passwordFile = path.join(directory, 'password')
    writeFileSync(passwordFile, 'enrol-password-1\n', {mode: 0o600})
    const out = path.join(directory, 'out')
    const flags = [...FLAGS, '--group', 'windows', '--registration-password-file', passwordFile]

    const printed = await runCli(['agent-config', ...flags, '--format', 'ps1', '--out', out])
    expect(printed.exitCode, printed.stderr).toBe(0)
    const written = readFileSync(path.join(out, 'install-wazuh-agent.ps1')).subarray(3).toString('utf8').replaceAll('\r\n', '\n')
    expect(`${printed.stdout}\n`).toBe(written)
    expect(written).toContain('$authdPass = (Get-Content -LiteralPath $sourceFile -Raw)')

    const json = await runCli(['agent-config', ...flags, '--format', 'json'])
    expect((JSON.parse(json.stdout) as {snippets: {installScript: string}}).snippets.installScript).toBe(written)
  })

  it('prints the localfile block with --format xml', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--format', 'xml'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe(readFileSync('templates/windows/sysmon-localfile.xml', 'utf8').trimEnd())
  })

  it('prints the result as JSON with --format json', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--format', 'json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {manager: object; sysmonConfig: {eventIds: number[]}; snippets: Record<string, string>}
    expect(output.manager).toEqual({address: '192.0.2.20', addressSource: 'flag', version: '4.12.0', versionSource: 'flag'})
    expect(output.sysmonConfig.eventIds).toEqual([1, 3, 6, 7, 15, 22, 23, 24, 26])
    expect(Object.keys(output.snippets).sort()).toEqual(['agentInstall', 'agentRestart', 'installScript', 'localfileInstall', 'localfileXml', 'msiUrl', 'sysmonInstall'])
  })

  it('writes one file per snippet with --out', async () => {
    const out = path.join(temporaryDirectory(), 'windows-agent')
    const result = await runCli(['agent-config', ...FLAGS, '--out', out])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readdirSync(out).sort()).toEqual(['install-wazuh-agent.ps1', 'sysmon-config.xml', 'sysmon-localfile.xml'])

    const script = readFileSync(path.join(out, 'install-wazuh-agent.ps1'))
    expect([...script.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    const text = script.subarray(3).toString('utf8')
    expect(text.replaceAll('\r\n', '')).not.toContain('\n')
    expect(text).toContain("$msiProperties = 'WAZUH_MANAGER=\"192.0.2.20\"'")
    expect(readFileSync(path.join(out, 'sysmon-config.xml'), 'utf8')).toBe(readFileSync('templates/sysmon/mispwazuh-sysmon.xml', 'utf8'))
    expect(result.stdout).toContain(`Files written:\n  ${path.join(out, 'install-wazuh-agent.ps1')}`)
  })

  it('copies the password file privately', async () => {
    const directory = temporaryDirectory()
    const passwordFile = path.join(directory, 'password')
    const password = "p@ss 'word' $x"
    writeFileSync(passwordFile, `${password}\n`, {mode: 0o600})
    const out = path.join(directory, 'out')

    const result = await runCli(['agent-config', ...FLAGS, '--registration-password-file', passwordFile, '--out', out, '--format', 'json'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(path.join(out, 'authd.pass'), 'utf8')).toBe(password)
    expect(statSync(path.join(out, 'authd.pass')).mode & 0o777).toBe(0o600)
    expect(result.stdout).not.toContain(password)
    expect(readFileSync(path.join(out, 'install-wazuh-agent.ps1'), 'utf8')).not.toContain(password)
    const output = JSON.parse(result.stdout) as {registrationPassword: object}
    expect(output.registrationPassword).toEqual({required: true, source: 'file', passwordFileWritten: path.join(out, 'authd.pass')})
  })

  it('downloads the Sysmon configuration from --sysmon-config-url', async () => {
    const url = 'https://raw.githubusercontent.com/example/sysmon-config/0123456789abcdef/sysmonconfig.xml'
    const out = temporaryDirectory()
    const result = await runCli(['agent-config', ...FLAGS, '--sysmon-config-url', url, '--out', out])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(path.join(out, 'install-wazuh-agent.ps1'), 'utf8')).toContain(`Invoke-WebRequest -UseBasicParsing -Uri '${url}' -OutFile $configPath`)
    expect(readdirSync(out)).not.toContain('sysmon-config.xml')
    expect(result.stdout).toContain(`Sysmon config:   ${url}`)
  })

  it('rejects a Sysmon configuration URL without TLS', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--sysmon-config-url', 'http://example.org/sysmon.xml'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Invalid value "http://example.org/sysmon.xml" for --sysmon-config-url: Expected an https:// URL')
  })

  it('rejects an agent name Wazuh would refuse at enrollment', async () => {
    for (const name of ['Zoë-PC', 'two words', "it's", 'x']) {
      const result = await runCli(['agent-config', ...FLAGS, '--agent-name', name])
      expect(result.exitCode, name).toBe(2)
      expect(result.stderr, name).toContain(`Invalid value "${name}" for --agent-name: Expected a Wazuh agent name`)
      expect(result.stdout, name).toBe('')
    }
  })

  it('names the missing manager address and version', async () => {
    const noAddress = await runCli(['agent-config', '--agent-version', '4.12.0'])
    expect(noAddress.exitCode).toBe(2)
    expect(noAddress.stderr).toContain('Missing the manager address Windows agents connect to.')
    expect(noAddress.stderr).toContain('Pass --manager-address')

    const noVersion = await runCli(['agent-config', '--manager-address', '192.0.2.20'])
    expect(noVersion.exitCode).toBe(2)
    expect(noVersion.stderr).toContain('Missing the Wazuh agent version.')
  })

  it('needs a group for --push', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--push'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('--push needs --group')
  })

  it('rejects --dry-run without --push', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--dry-run'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('--dry-run applies to --push only')
  })

  it('rejects an unknown format', async () => {
    const result = await runCli(['agent-config', ...FLAGS, '--format', 'yaml'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Invalid value "yaml" for --format')
  })
})
