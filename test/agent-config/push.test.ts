/**
 * agent-config against a Wazuh manager tree on the Debian test server, over SSH: reading the
 * manager's version and enrollment settings, and --push into an agent group's shared agent.conf.
 * Run `npm run build` first: the tests run the built CLI as a user would.
 */
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {hostFlags, runCli, type CliResult} from '../support/cli.js'
import {freePort, useTestServer, type TestServer} from '../support/test-server.js'
import {installWazuhStandins, runWazuhInstaller} from '../support/wazuh/standins.js'

const getServer = useTestServer()

const TEMPLATE = readFileSync('test/fixtures/wazuh/config/agent.conf.default.xml', 'utf8')
const WINDOWS_BLOCK = [
  '<agent_config os="Windows">',
  '  <!-- mispwazuh: Sysmon events for the MISP integration -->',
  '  <localfile>',
  '    <location>Microsoft-Windows-Sysmon/Operational</location>',
  '    <log_format>eventchannel</log_format>',
  '  </localfile>',
  '</agent_config>',
  '',
].join('\n')

async function statOf(server: TestServer, file: string): Promise<string> {
  const result = await server.exec(['stat', '-c', '%U:%G %a', file])
  expect(result.exitCode, `stat ${file}: ${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

async function agentGroupsCalls(server: TestServer): Promise<string[][]> {
  const result = await server.exec(['cat', '/var/ossec/.standin/agent-groups-calls.log'])
  return result.exitCode === 0 ? result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]) : []
}

const SHARED_BACKUPS = '/var/ossec/etc/mispwazuh/backups/shared/windows'

/** Backups of `file` in `directory`: the group's backup directory outside etc/shared by default. */
async function backupsOf(server: TestServer, file: string, directory = SHARED_BACKUPS): Promise<string[]> {
  const onHost = server.pathOnHost(directory)
  if (!existsSync(onHost)) return []
  return readdirSync(onHost).filter((name) => name.startsWith(`${path.posix.basename(file)}.mispwazuh-`))
}

async function agentConfig(server: TestServer, args: string[]): Promise<CliResult> {
  return runCli(['agent-config', ...hostFlags(server), ...args], {timeoutMs: 120_000})
}

function logText(result: CliResult): string {
  return readdirSync(result.logDirectory).map((name) => readFileSync(path.join(result.logDirectory, name), 'utf8')).join('\n')
}

describe('agent-config on a manager', () => {
  beforeAll(async () => {
    const server = getServer()
    await installWazuhStandins(server, {apiPort: await freePort()})
    const installed = await runWazuhInstaller(server, {args: ['-a', '-p', String(await freePort())]})
    expect(installed.exitCode, installed.stdout + installed.stderr).toBe(0)

    await server.writeFile('/var/ossec/bin/agent_groups', readFileSync('test/agent-config/agent_groups_standin.py'), {mode: 0o750, owner: 'root', group: 'wazuh'})
    const members = {windows: [{id: '001', name: 'WIN-01'}, {id: '002', name: 'WIN-02'}]}
    await server.writeFile('/var/ossec/.standin/agent-groups.json', JSON.stringify(members))
  }, 300_000)

  it('reads the version and enrollment from the manager', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--format', 'json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {manager: Record<string, string>; registrationPassword: {required: boolean; source: string}}
    expect(output.manager).toEqual({address: '127.0.0.1', addressSource: 'host', version: '4.12.0', versionSource: 'manager'})
    expect(output.registrationPassword).toMatchObject({required: false, source: 'manager'})
  })

  it('warns when the agent group for enrollment does not exist', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--group', 'not-created'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toContain('Warning: The agent group not-created does not exist on the manager')
    expect(result.stdout).toContain('WAZUH_AGENT_GROUP="not-created"')
  })

  it('dry run shows the plan and changes nothing', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--push', '--group', 'windows', '--dry-run'])
    expect(result.exitCode, result.stderr).toBe(2)
    expect(result.stdout).toContain('Dry run: changes for the agent group windows (nothing was written)')
    expect(result.stdout).toMatch(/would change\s+Agent group windows: group windows does not exist/)
    expect(result.stdout).toContain('create agent group windows')
    expect(result.stdout).toContain('+<agent_config os="Windows">')
    expect(await server.exec(['test', '-e', '/var/ossec/etc/shared/windows'])).toMatchObject({exitCode: 1})
    expect(await agentGroupsCalls(server)).toEqual([])
  })

  it('push creates the group and adds the Sysmon localfile', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--push', '--group', 'windows'])
    expect(result.exitCode, result.stderr + result.stdout).toBe(0)

    expect(await agentGroupsCalls(server)).toEqual([
      ['-a', '-g', 'windows', '-q'],
      ['-l', '-g', 'windows'],
    ])
    expect(await statOf(server, '/var/ossec/etc/shared/windows')).toBe('wazuh:wazuh 770')
    expect(await server.readFile('/var/ossec/etc/shared/windows/agent.conf')).toBe(`${TEMPLATE}\n${WINDOWS_BLOCK}`)
    expect(await statOf(server, '/var/ossec/etc/shared/windows/agent.conf')).toBe('wazuh:wazuh 660')

    const backups = await backupsOf(server, '/var/ossec/etc/shared/windows/agent.conf')
    expect(backups).toHaveLength(1)
    expect(await server.readFile(`${SHARED_BACKUPS}/${backups[0]}`)).toBe(TEMPLATE)
    // The manager sends every file of etc/shared/windows to the agents: no backup may sit there.
    expect(await backupsOf(server, '/var/ossec/etc/shared/windows/agent.conf', '/var/ossec/etc/shared/windows')).toEqual([])

    expect(result.stdout).toMatch(/changed\s+Agent group windows/)
    expect(result.stdout).toContain('Agents in windows (2): 001 WIN-01, 002 WIN-02')
    expect(result.stdout).toContain('They download the new agent.conf at their next check-in with the manager and restart to apply it.')
    expect(result.stdout).toContain("The agent group windows delivers this <localfile> in its shared agent.conf: nothing to add on the host.")
  })

  it('second push changes nothing', async () => {
    const server = getServer()
    const file = '/var/ossec/etc/shared/windows/agent.conf'
    const before = statSync(server.pathOnHost(file))
    const result = await agentConfig(server, ['--push', '--group', 'windows'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/ok\s+Agent group windows: group windows exists/)
    expect(result.stdout).toMatch(/ok\s+Sysmon <localfile> in \/var\/ossec\/etc\/shared\/windows\/agent.conf: .* already reads Microsoft-Windows-Sysmon\/Operational/)

    const after = statSync(server.pathOnHost(file))
    expect(after.mtimeMs).toBe(before.mtimeMs)
    expect(after.ino).toBe(before.ino)
    expect(await backupsOf(server, file)).toHaveLength(1)

    const dryRun = await agentConfig(server, ['--push', '--group', 'windows', '--dry-run'])
    expect(dryRun.exitCode, dryRun.stdout).toBe(0)
  })

  it('reports the push on stderr with --format ps1', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--push', '--group', 'windows', '--format', 'ps1'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout.startsWith("# Installs the Wazuh agent for the manager '127.0.0.1'")).toBe(true)
    expect(result.stdout).not.toContain('Agents in windows')
    expect(result.stderr).toContain('Agents in windows (2): 001 WIN-01, 002 WIN-02')
    expect(result.stdout).toContain("# The agent group 'windows' delivers the <localfile>")
  })

  it('keeps an existing agent.conf byte for byte around the new block', async () => {
    const server = getServer()
    const original = [
      '<!-- servers: managed by hand -- do not touch -->\r\n',
      '<agent_config>\r\n',
      '\t<labels>\r\n\t\t<label key="site">HQ &amp; lab</label>\r\n\t</labels>\r\n',
      '</agent_config>\r\n',
      '\r\n',
      '<agent_config os="Linux">\r\n',
      '\t<localfile>\r\n\t\t<location>/var/log/auth.log</location>\r\n\t\t<log_format>syslog</log_format>\r\n\t</localfile>\r\n',
      '</agent_config>\r\n',
    ].join('')
    await server.exec(['install', '-d', '-o', 'wazuh', '-g', 'wazuh', '-m', '770', '/var/ossec/etc/shared/servers'])
    await server.writeFile('/var/ossec/etc/shared/servers/agent.conf', original, {mode: 0o660, owner: 'wazuh', group: 'wazuh'})

    const result = await agentConfig(server, ['--push', '--group', 'servers'])
    expect(result.exitCode, result.stderr + result.stdout).toBe(0)
    const edited = await server.readFile('/var/ossec/etc/shared/servers/agent.conf')
    expect(edited.startsWith(original)).toBe(true)
    expect(edited.slice(original.length)).toBe(`\r\n${WINDOWS_BLOCK.replace(/  /g, '\t').replaceAll('\n', '\r\n')}`)
    expect(result.stdout).toContain('Agents in servers: none yet.')
    expect((await agentGroupsCalls(server)).filter((call) => call.includes('servers'))).toEqual([['-l', '-g', 'servers']])
  })

  it('puts the file back when verify-agent-conf rejects it', async () => {
    const server = getServer()
    const original = '<agent_config>\n  <not_an_agent_option>1</not_an_agent_option>\n</agent_config>\n'
    await server.exec(['install', '-d', '-o', 'wazuh', '-g', 'wazuh', '-m', '770', '/var/ossec/etc/shared/broken'])
    await server.writeFile('/var/ossec/etc/shared/broken/agent.conf', original, {mode: 0o640, owner: 'wazuh', group: 'wazuh'})

    const result = await agentConfig(server, ['--push', '--group', 'broken'])
    expect(result.exitCode).toBe(22)
    expect(result.stderr).toContain('verify-agent-conf rejected /var/ossec/etc/shared/broken/agent.conf')
    expect(result.stderr).toContain("Invalid element in the configuration: 'not_an_agent_option'")
    expect(await server.readFile('/var/ossec/etc/shared/broken/agent.conf')).toBe(original)
    expect(await statOf(server, '/var/ossec/etc/shared/broken/agent.conf')).toBe('wazuh:wazuh 640')
  })

  it('rejects an invalid group name before touching the manager', async () => {
    const server = getServer()
    const result = await agentConfig(server, ['--push', '--group', '../etc'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Invalid value "../etc" for --group')
    expect(await server.exec(['test', '-e', '/var/ossec/etc/etc'])).toMatchObject({exitCode: 1})
  })

  it('takes the registration password from the manager without printing it', async () => {
    const server = getServer()
    const password = 'Enr0ll-$ecret-7f3a'
    const conf = await server.readFile('/var/ossec/etc/ossec.conf')
    await server.writeFile('/var/ossec/etc/ossec.conf', conf.replace('<use_password>no</use_password>', '<use_password>yes</use_password>'), {mode: 0o660, owner: 'root', group: 'wazuh'})
    await server.writeFile('/var/ossec/etc/authd.pass', `${password}\n`, {mode: 0o640, owner: 'root', group: 'wazuh'})

    const out = mkdtempSync(path.join(tmpdir(), 'mispwazuh-agent-out-'))
    const result = await agentConfig(server, ['--group', 'windows', '--out', out])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toContain("password required (the manager's ossec.conf)")
    expect(result.stdout).toContain(`${path.join(out, 'authd.pass')} holds the registration password (mode 0600)`)

    expect(readFileSync(path.join(out, 'authd.pass'), 'utf8')).toBe(password)
    expect(statSync(path.join(out, 'authd.pass')).mode & 0o777).toBe(0o600)
    const script = readFileSync(path.join(out, 'install-wazuh-agent.ps1'))
    for (const text of [result.stdout, result.stderr, logText(result), script.toString('utf8')]) expect(text).not.toContain(password)
    expect(script.toString('utf8')).toContain("Read-Host -AsSecureString -Prompt 'Wazuh agent registration password'")
  })
})
