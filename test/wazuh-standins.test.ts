/**
 * The Wazuh stand-ins on the Debian test server: installer, wazuh-control, the -t validators,
 * the manager process (queue socket, rules, alerts.json, integratord) and the server API.
 */
import net from 'node:net'
import {describe, expect, it} from 'vitest'
import {freePort, useTestServer, type TestServer} from './support/test-server.js'
import {
  alertsPath,
  failNextManagerStart,
  installWazuhStandins,
  managerDiagnostics,
  readAlerts,
  readInstallPasswords,
  readIntegrationRuns,
  runWazuhInstaller,
  seedAgents,
  sendQueueMessage,
  sysmonDnsQueryMessage,
  waitForAlert,
  wazuhApiRequest,
  wazuhControl,
} from './support/wazuh/standins.js'

const getServer = useTestServer()

async function statOf(server: TestServer, path: string): Promise<string> {
  const result = await server.exec(['stat', '-c', '%U:%G %a', path])
  expect(result.exitCode, `stat ${path}: ${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

async function sleep(milliseconds: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, milliseconds))
}

async function appendToFile(server: TestServer, path: string, text: string): Promise<void> {
  const result = await server.exec(['sh', '-c', 'cat >> "$1"', 'sh', path], {stdin: text})
  expect(result.exitCode, result.stderr).toBe(0)
}

async function replaceInFile(server: TestServer, path: string, search: string, replacement: string): Promise<void> {
  const program = 'import sys; p=sys.argv[1]; s=open(p).read(); assert sys.argv[2] in s, "text not found"; open(p,"w").write(s.replace(sys.argv[2], sys.argv[3]))'
  const result = await server.exec(['python3', '-c', program, path, search, replacement])
  expect(result.exitCode, result.stderr).toBe(0)
}

const selfTestRules = `
<group name="mispwazuh,">
  <rule id="100200" level="3">
    <decoded_as>json</decoded_as>
    <location>mispwazuh-selftest</location>
    <field name="mispwazuh.selftest">\\.+</field>
    <description>mispwazuh self-test for $(mispwazuh.selftest)</description>
    <group>mispwazuh_selftest,</group>
  </rule>

  <rule id="100201" level="2">
    <decoded_as>json</decoded_as>
    <location>mispwazuh-low</location>
    <field name="mispwazuh.selftest">\\.+</field>
    <description>Below log_alert_level.</description>
  </rule>

  <rule id="100210" level="0">
    <decoded_as>json</decoded_as>
    <field name="integration">custom-standin-test</field>
    <description>Stand-in test integration result.</description>
  </rule>

  <rule id="100211" level="10">
    <if_sid>100210</if_sid>
    <field name="standin.found">^1$</field>
    <description>Stand-in test integration found $(standin.value)</description>
    <group>standin_result,</group>
  </rule>
</group>
`

// Records its argv, user and the alert it received, then sends a result back on the queue socket.
const integrationScript = `#!/var/ossec/framework/python/bin/python3
import json, os, pwd, socket, sys
alert = json.load(open(sys.argv[1]))
record = {"argv": sys.argv, "user": pwd.getpwuid(os.getuid()).pw_name, "rule": alert["rule"]["id"]}
with open("/tmp/standin-integration.jsonl", "a") as handle:
    handle.write(json.dumps(record) + "\\n")
result = {"integration": "custom-standin-test", "standin": {"found": 1, "value": alert["data"]["mispwazuh"]["selftest"]}}
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("/var/ossec/queue/sockets/queue")
s.send(("1:standin-test:" + json.dumps(result)).encode())
`

function integrationBlock(group: string, extra = ''): string {
  return [
    '<ossec_config>',
    '  <integration>',
    '    <name>custom-standin-test</name>',
    `    <group>${group}</group>`,
    '    <alert_format>json</alert_format>',
    '    <options>{"case": "standin"}</options>',
    extra,
    '  </integration>',
    '</ossec_config>',
    '',
  ].join('\n')
}

// Each test restarts the manager stand-in at least once; on a loaded 2-core machine that takes seconds.
describe('Wazuh stand-ins', {timeout: 180_000}, () => {
  let apiPort = 0
  let dashboardPort = 0
  let stockConf = ''

  it('installer aborts when the dashboard port is busy', async () => {
    const server = getServer()
    apiPort = await freePort()
    dashboardPort = await freePort()
    await installWazuhStandins(server, {apiPort})

    await installWazuhStandins(server, {apiPort, hardware: {cores: 2, memoryMb: 2048}})
    const small = await runWazuhInstaller(server, {args: ['-a', '-p', String(dashboardPort)]})
    expect(small.exitCode).toBe(1)
    expect(small.stdout).toContain('use the -i option to ignore these requirements')
    await installWazuhStandins(server, {apiPort})

    const blocker = net.createServer()
    const busyPort = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)))
    try {
      const result = await runWazuhInstaller(server, {args: ['-a', '-p', String(busyPort)]})
      expect(result.exitCode).toBe(1)
      expect(result.stdout).toContain(`Port ${busyPort} is being used by another process`)
      expect(await server.exec(['test', '-e', '/var/ossec'])).toMatchObject({exitCode: 1})
    } finally {
      blocker.close()
    }
  })

  it('installer lays out the manager tree', async () => {
    const server = getServer()
    const result = await runWazuhInstaller(server, {args: ['-a', '-p', String(dashboardPort)]})
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain(`You can access the web interface https://<wazuh-dashboard-ip>:${dashboardPort}`)
    expect(result.stdout).toMatch(/\n {4}User: admin\n {4}Password: \S{32}\n/)

    const expected: Record<string, string> = {
      '/var/ossec': 'root:wazuh 750',
      '/var/ossec/etc/ossec.conf': 'root:wazuh 660',
      '/var/ossec/etc/rules': 'root:wazuh 770',
      '/var/ossec/etc/rules/local_rules.xml': 'wazuh:wazuh 660',
      '/var/ossec/etc/decoders/local_decoder.xml': 'wazuh:wazuh 660',
      '/var/ossec/etc/shared/default/agent.conf': 'wazuh:wazuh 660',
      '/var/ossec/etc/lists/audit-keys': 'wazuh:wazuh 660',
      '/var/ossec/integrations': 'root:wazuh 750',
      '/var/ossec/ruleset/rules/0595-win-sysmon_rules.xml': 'root:wazuh 640',
      '/var/ossec/logs/alerts/alerts.json': 'wazuh:wazuh 640',
      '/var/ossec/logs/integrations.log': 'wazuh:wazuh 640',
      '/var/ossec/queue/sockets': 'wazuh:wazuh 770',
      '/var/ossec/queue/sockets/queue': 'wazuh:wazuh 660',
      '/var/ossec/bin/wazuh-control': 'root:root 750',
      '/root/wazuh-install-files.tar': 'root:root 600',
    }
    for (const [path, ownerAndMode] of Object.entries(expected)) {
      expect(await statOf(server, path), path).toBe(ownerAndMode)
    }

    const user = await server.exec(['getent', 'passwd', 'wazuh'])
    expect(user.stdout).toMatch(/^wazuh:x:\d+:\d+::\/var\/ossec:\/sbin\/nologin/)
    const python = await server.exec(['/var/ossec/framework/python/bin/python3', '-c', 'import sys; print(sys.version_info[0])'], {user: 'wazuh'})
    expect(python.stdout.trim()).toBe('3')

    stockConf = await server.readFile('/var/ossec/etc/ossec.conf')
    expect(stockConf).toContain('<host>https://127.0.0.1:9200</host>')
    expect(stockConf).toContain('/etc/filebeat/certs/wazuh-server-key.pem')
    expect(stockConf).not.toContain('filebeat.pem')

    const listing = await server.exec(['tar', '-tzf', '/root/wazuh-install-files.tar'])
    expect(listing.stdout).toContain('wazuh-install-files/wazuh-passwords.txt')
    expect(listing.stdout).toContain('wazuh-install-files/root-ca.pem')
    const passwords = await server.exec(['tar', '-xzOf', '/root/wazuh-install-files.tar', 'wazuh-install-files/wazuh-passwords.txt'])
    const pairs = [...passwords.stdout.matchAll(/^ {2}(indexer|api)_username: '([^']+)'\n {2}\1_password: '([^']+)'$/gm)]
    const users = pairs.map((match) => `${match[1]}:${match[2]}`)
    expect(users).toEqual(expect.arrayContaining(['indexer:admin', 'indexer:kibanaserver', 'api:wazuh', 'api:wazuh-wui']))
    for (const match of pairs) expect(match[3]).toMatch(/^[A-Za-z0-9.*+?]{32}$/)
    const adminPassword = pairs.find((match) => match[2] === 'admin')![3]!
    expect(result.stdout).toContain(`Password: ${adminPassword}`)

    const dpkg = await server.exec(['dpkg-query', '-W', '-f', '${Version}', 'wazuh-manager'])
    expect(dpkg.stdout).toBe('4.12.0-1')
  })

  it('installer refuses a second run without -o', async () => {
    const result = await runWazuhInstaller(getServer(), {args: ['-a', '-p', String(dashboardPort)]})
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toContain('Wazuh manager already installed.')
  })

  it('curl wrapper passes other URLs to the real curl', async () => {
    const server = getServer()
    const result = await server.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-k', `https://127.0.0.1:${dashboardPort}/`])
    expect(result.stdout).toBe('302')
    const missing = await server.exec(['curl', '-sSf', 'https://packages.wazuh.com/9.9/wazuh-install.sh'])
    expect(missing.exitCode).toBe(22)
    const log = await server.readFile('/var/log/curl-standin.log')
    expect(log).toContain(`pass-through https://127.0.0.1:${dashboardPort}/`)
    expect(log).toContain('served https://packages.wazuh.com/4.12/wazuh-install.sh')
  })

  it('wazuh-control info and status', async () => {
    const server = getServer()
    const info = await wazuhControl(server, 'info')
    expect(info.stdout).toBe('WAZUH_VERSION="v4.12.0"\nWAZUH_REVISION="41201"\nWAZUH_TYPE="server"\n')

    const status = await wazuhControl(server, 'status')
    expect(status.stdout).toContain('wazuh-analysisd is running...')
    expect(status.stdout).toContain('wazuh-apid is running...')
    // No <integration> block yet: integratord exits at start, as the real one does.
    expect(status.stdout).toContain('wazuh-integratord not running...')
    expect(status.stdout).toContain('wazuh-clusterd not running...')

    const active = await server.exec(['systemctl', 'is-active', 'wazuh-manager'])
    expect(active.stdout.trim()).toBe('active')
    const json = JSON.parse((await wazuhControl(server, '-j', 'status')).stdout) as {error: number; data: Array<{daemon: string; status: string}>}
    expect(json.data).toContainEqual({daemon: 'wazuh-analysisd', status: 'running'})
    expect(json.data).toContainEqual({daemon: 'wazuh-integratord', status: 'stopped'})

    const unit = await server.exec(['systemctl', 'cat', 'wazuh-manager'])
    expect(unit.stdout).toContain('ExecStart=/usr/bin/env /var/ossec/bin/wazuh-control start')
  })

  it('self-test event with a local rule alerts', async () => {
    const server = getServer()
    await appendToFile(server, '/var/ossec/etc/rules/local_rules.xml', selfTestRules)
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)

    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"canary.example.org","count":2}}')
    const alert = await waitForAlert(server, (candidate) => candidate.rule.id === '100200')
    expect(alert.rule).toMatchObject({level: 3, description: 'mispwazuh self-test for canary.example.org', firedtimes: 1, mail: false})
    expect(alert.rule.groups).toEqual(['mispwazuh', 'mispwazuh_selftest'])
    expect(alert.decoder).toEqual({name: 'json'})
    expect(alert.location).toBe('mispwazuh-selftest')
    expect(alert.agent.id).toBe('000')
    expect(alert.data).toEqual({mispwazuh: {selftest: 'canary.example.org', count: '2'}})
    expect(alert.full_log).toBe('{"mispwazuh":{"selftest":"canary.example.org","count":2}}')
  })

  it('event from another location does not alert', async () => {
    const server = getServer()
    const before = (await readAlerts(server)).length
    await sendQueueMessage(server, '1:elsewhere:{"mispwazuh":{"selftest":"x.example.org"}}')
    await sendQueueMessage(server, '1:mispwazuh-low:{"mispwazuh":{"selftest":"low.example.org"}}')
    // The manager handles events in order, so once this marker alerts the two above are done.
    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"marker-1.example.org"}}')
    await waitForAlert(server, (alert) => JSON.stringify(alert.data ?? {}).includes('marker-1.example.org'))
    expect((await readAlerts(server)).length).toBe(before + 1)
  })

  it('wazuh-logtest shows the matched rule', async () => {
    const server = getServer()
    const event = '{"mispwazuh":{"selftest":"logtest.example.org"}}\n'
    const matched = await server.exec(['/var/ossec/bin/wazuh-logtest', '-l', 'mispwazuh-selftest', '-U', '100200:3:json'], {stdin: event})
    expect(matched.exitCode, matched.stdout + matched.stderr).toBe(0)
    expect(matched.stdout).toContain("\tid: '100200'")
    expect(matched.stdout).toContain('**Alert to be generated.')

    const other = await server.exec(['/var/ossec/bin/wazuh-logtest', '-q', '-U', '100200:3:json'], {stdin: event})
    expect(other.exitCode).toBe(1)
  })

  it('Sysmon event 22 alerts only once raised', async () => {
    const server = getServer()
    await sendQueueMessage(server, sysmonDnsQueryMessage({queryName: 'stock-level.example.org'}))
    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"marker-2.example.org"}}')
    await waitForAlert(server, (alert) => JSON.stringify(alert.data ?? {}).includes('marker-2.example.org'))
    expect((await readAlerts(server)).some((alert) => alert.rule.id === '61650')).toBe(false)

    const raise = `
<group name="windows,sysmon,">
  <rule id="61650" level="3" overwrite="yes">
    <if_sid>61600</if_sid>
    <field name="win.system.eventID">^22$</field>
    <description>Sysmon - Event 22: DNS Query event</description>
    <options>no_full_log</options>
    <group>sysmon_event_22,</group>
  </rule>
</group>
`
    await appendToFile(server, '/var/ossec/etc/rules/local_rules.xml', raise)
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)

    await sendQueueMessage(server, sysmonDnsQueryMessage({queryName: 'raised.example.org', agentIp: '192.0.2.10', image: 'C:\\Program Files\\App\\app.exe'}))
    const alert = await waitForAlert(server, (candidate) => candidate.rule.id === '61650')
    expect(alert.rule.level).toBe(3)
    expect(alert.rule.groups).toEqual(['windows', 'sysmon', 'sysmon_event_22'])
    expect(alert.agent).toEqual({id: '001', name: 'win-agent-01', ip: '192.0.2.10'})
    expect(alert.decoder.name).toBe('windows_eventchannel')
    expect(alert.location).toBe('EventChannel')
    expect(alert.full_log).toBeUndefined()
    const win = (alert.data as {win: {system: Record<string, string>; eventdata: Record<string, string>}}).win
    expect(win.eventdata.queryName).toBe('raised.example.org')
    expect(win.eventdata.image).toBe('C:\\\\Program Files\\\\App\\\\app.exe')
    expect(win.eventdata.ruleName).toBeUndefined()
    expect(win.system).toMatchObject({eventID: '22', channel: 'Microsoft-Windows-Sysmon/Operational', severityValue: 'INFORMATION', providerName: 'Microsoft-Windows-Sysmon'})
  })

  it('matching integration runs as wazuh', async () => {
    const server = getServer()
    await server.writeFile('/var/ossec/integrations/custom-standin-test', integrationScript, {owner: 'root', group: 'wazuh', mode: 0o750})
    await appendToFile(server, '/var/ossec/etc/ossec.conf', integrationBlock('mispwazuh_selftest,sysmon_event_22', '    <timeout>7</timeout>'))
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-integratord is running...')

    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"run.example.org"}}')
    const result = await waitForAlert(server, (alert) => alert.rule.id === '100211')
    expect(result.rule.description).toBe('Stand-in test integration found run.example.org')
    expect(result.location).toBe('standin-test')
    expect(result.data).toEqual({integration: 'custom-standin-test', standin: {found: '1', value: 'run.example.org'}})

    const records = (await server.readFile('/tmp/standin-integration.jsonl')).trim().split('\n').map((line) => JSON.parse(line) as {argv: string[]; user: string; rule: string})
    expect(records).toHaveLength(1)
    const {argv, user, rule} = records[0]!
    expect(user).toBe('wazuh')
    expect(rule).toBe('100200')
    expect(argv).toHaveLength(9)
    expect(argv[0]).toMatch(/integrations\/custom-standin-test$/)
    expect(argv[1]).toMatch(/^\/tmp\/custom-standin-test-\d+-\d+\.alert$/)
    expect(argv.slice(2, 5)).toEqual(['', '', ''])
    expect(argv[5]).toMatch(/^\/tmp\/custom-standin-test-\d+-\d+\.options$/)
    expect(argv.slice(6)).toEqual(['7', '3', '> /dev/null 2>&1'])

    // The script sends its result before it exits, so the run record may come a moment later.
    let runs = await readIntegrationRuns(server)
    for (let attempt = 0; runs.length === 0 && attempt < 50; attempt++) {
      await sleep(100)
      runs = await readIntegrationRuns(server)
    }
    expect(runs.map((run) => [run.name, run.rule_id, run.exit_code])).toEqual([['custom-standin-test', '100200', 0]])
    expect(runs[0]!.argv[0]).toBe('integrations')
    // The temp files are gone once the script exits.
    expect(await server.exec(['test', '-e', argv[1]!])).toMatchObject({exitCode: 1})
  })

  it('agent-form result location keeps the agent', async () => {
    const server = getServer()
    const payload = '{"integration":"custom-standin-test","standin":{"found":1,"value":"agent.example.org"}}'
    await sendQueueMessage(server, `1:[001] (win-agent-01) 192.0.2.10->standin-test:${payload}`)
    const alert = await waitForAlert(server, (candidate) => candidate.rule.id === '100211' && candidate.agent.id === '001')
    expect(alert.agent).toEqual({id: '001', name: 'win-agent-01', ip: '192.0.2.10'})
    expect(alert.location).toBe('standin-test')

    // An IPv6 address in the location has its colons escaped as "|:".
    await sendQueueMessage(server, `1:[002] (win-agent-02) 2001|:db8|:|:10->standin-test:${payload}`)
    const ipv6 = await waitForAlert(server, (candidate) => candidate.rule.id === '100211' && candidate.agent.id === '002')
    expect(ipv6.agent.ip).toBe('2001:db8::10')
  })

  it('misspelled group does not run the integration', async () => {
    const server = getServer()
    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '<group>mispwazuh_selftest,sysmon_event_22</group>', '<group>mispwazuh_self_test, sysmon_event22</group>')
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)

    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"typo.example.org"}}')
    await waitForAlert(server, (alert) => alert.rule.id === '100200' && alert.data?.['mispwazuh'] !== undefined && JSON.stringify(alert.data).includes('typo.example.org'))
    await sleep(1000)
    expect(await readIntegrationRuns(server)).toHaveLength(1)
    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '<group>mispwazuh_self_test, sysmon_event22</group>', '<group>mispwazuh_selftest,sysmon_event_22</group>')
  })

  it('integration writable by wazuh is refused', async () => {
    const server = getServer()
    await server.exec(['chmod', '0770', '/var/ossec/integrations/custom-standin-test'])
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)

    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"writable.example.org"}}')
    await waitForAlert(server, (alert) => JSON.stringify(alert.data ?? {}).includes('writable.example.org'))
    await sleep(1000)
    const log = await server.readFile('/var/ossec/logs/ossec.log')
    expect(log).toMatch(/wazuh-integratord: ERROR: At wpopenv\(\): file '\/var\/ossec\/integrations\/custom-standin-test' has write permissions\./)
    expect(log).toMatch(/wazuh-integratord: ERROR: Couldn't execute command \(integrations \/tmp\/custom-standin-test-/)
    expect((await readIntegrationRuns(server)).at(-1)?.exit_code).toBe(127)
    await server.exec(['chmod', '0750', '/var/ossec/integrations/custom-standin-test'])
  })

  it('validators report rule and tag problems', async () => {
    const server = getServer()
    const clean = await server.exec(['/var/ossec/bin/wazuh-analysisd', '-t'])
    expect(clean.exitCode, clean.stderr).toBe(0)
    expect(clean.stderr).toBe('')

    await appendToFile(server, '/var/ossec/etc/rules/local_rules.xml', '<group name="dup,">\n  <rule id="100200" level="5">\n    <match>x</match>\n    <description>dup</description>\n  </rule>\n</group>\n')
    const duplicate = await server.exec(['/var/ossec/bin/wazuh-analysisd', '-t'])
    expect(duplicate.exitCode).toBe(0)
    expect(duplicate.stderr).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d wazuh-analysisd: WARNING: \(7612\): Rule ID '100200' is duplicated\. Only the first occurrence will be considered\.$/m)

    await appendToFile(server, '/var/ossec/etc/rules/local_rules.xml', '<group name="broken,">\n  <rule id="100300" level="5">\n    <match>x</match>\n</group>\n')
    const broken = await server.exec(['/var/ossec/bin/wazuh-analysisd', '-t'])
    expect(broken.exitCode).toBe(1)
    expect(broken.stderr).toMatch(/wazuh-analysisd: ERROR: \(1226\): Error reading XML file 'etc\/rules\/local_rules\.xml': XMLERR: Element 'rule' not closed\. \(line \d+\)\./)
    expect(broken.stderr).toContain("CRITICAL: (1220): Error loading the rules: 'etc/rules/local_rules.xml'.")

    const integratord = await server.exec(['/var/ossec/bin/wazuh-integratord', '-t'])
    expect(integratord.exitCode, integratord.stderr).toBe(0)
    await server.writeFile('/var/ossec/.standin/version', '4.7.5\n', {mode: 0o600})
    const old = await server.exec(['/var/ossec/bin/wazuh-integratord', '-t'])
    expect(old.exitCode).toBe(1)
    expect(old.stderr).toContain("wazuh-integratord: ERROR: (1230): Invalid element in the configuration: 'timeout'.")
    expect(old.stderr).toContain("wazuh-integratord: CRITICAL: (1202): Configuration error at 'etc/ossec.conf'.")
    await server.writeFile('/var/ossec/.standin/version', '4.12.0\n', {mode: 0o600})

    await replaceInFile(server, '/var/ossec/etc/rules/local_rules.xml', '<group name="broken,">\n  <rule id="100300" level="5">\n    <match>x</match>\n</group>\n', '')
  })

  it('second ruleset section drops local rules', async () => {
    const server = getServer()
    const stock = await server.readFile('/var/ossec/etc/ossec.conf')
    await appendToFile(server, '/var/ossec/etc/ossec.conf', '<ossec_config>\n  <ruleset>\n    <list>etc/lists/audit-keys</list>\n  </ruleset>\n</ossec_config>\n')
    try {
      const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
      expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)
      const logtest = await server.exec(['/var/ossec/bin/wazuh-logtest', '-q', '-l', 'mispwazuh-selftest', '-U', '100200:3:json'], {stdin: '{"mispwazuh":{"selftest":"dropped.example.org"}}\n'})
      expect(logtest.exitCode).toBe(1)
    } finally {
      await server.writeFile('/var/ossec/etc/ossec.conf', stock, {owner: 'root', group: 'wazuh', mode: 0o660})
    }

    await appendToFile(server, '/var/ossec/etc/decoders/local_decoder.xml', '<decoder name="broken">\n')
    const decoders = await server.exec(['/var/ossec/bin/wazuh-analysisd', '-t'])
    expect(decoders.exitCode).toBe(1)
    expect(decoders.stderr).toContain("Error reading XML file 'etc/decoders/local_decoder.xml'")
    await replaceInFile(server, '/var/ossec/etc/decoders/local_decoder.xml', '<decoder name="broken">\n', '')
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode, restart.stderr + await managerDiagnostics(server)).toBe(0)
  })

  it('broken ossec.conf makes restart fail', async () => {
    const server = getServer()
    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '<alert_format>json</alert_format>', '<alert_format>json</alert_format>\n    <alert_fromat>json</alert_fromat>')

    // wazuh-control restart tests the configuration first and leaves the running manager alone.
    const controlRestart = await wazuhControl(server, 'restart')
    expect(controlRestart.exitCode).toBe(1)
    expect(controlRestart.stdout).toContain('wazuh-integratord: Configuration error. Exiting')
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-analysisd is running...')

    // systemctl restart stops first, so the manager stays down.
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode).toBe(1)
    expect(restart.stderr).toContain('Job for wazuh-manager.service failed')
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-analysisd not running...')
    expect((await server.exec(['systemctl', 'is-active', 'wazuh-manager'])).exitCode).toBe(3)
    const log = await server.readFile('/var/ossec/logs/ossec.log')
    expect(log).toContain("wazuh-integratord: ERROR: (1230): Invalid element in the configuration: 'alert_fromat'.")

    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '\n    <alert_fromat>json</alert_fromat>', '')
    const start = await server.exec(['systemctl', 'start', 'wazuh-manager'])
    expect(start.exitCode, start.stderr + await managerDiagnostics(server)).toBe(0)
  })

  it('fail-next-start hook fails one start', async () => {
    const server = getServer()
    await failNextManagerStart(server)
    const first = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(first.exitCode).toBe(1)
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-analysisd not running...')
    const second = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(second.exitCode, second.stderr + await managerDiagnostics(server)).toBe(0)
    expect(await server.readFile(alertsPath)).not.toBe('')
  })

  it('installer -u removes everything', async () => {
    const server = getServer()
    const pidFile = (await server.exec(['sh', '-c', 'cat /var/ossec/var/run/wazuh-analysisd-*.pid'])).stdout.trim()
    expect(pidFile).toMatch(/^\d+$/)
    const result = await runWazuhInstaller(server, {args: ['-u']})
    expect(result.exitCode, result.stdout).toBe(0)
    expect(await server.exec(['test', '-e', '/var/ossec'])).toMatchObject({exitCode: 1})
    expect(await server.exec(['test', '-e', '/etc/wazuh-dashboard'])).toMatchObject({exitCode: 1})
    expect((await server.exec(['dpkg-query', '-W', 'wazuh-manager'])).exitCode).toBe(1)
    expect((await server.exec(['systemctl', 'is-active', 'wazuh-manager'])).exitCode).toBe(3)
    // The test server shares this machine's process IDs, so check the manager's own PID. Right
    // after it exits it may still show as a zombie until this machine's init reaps it.
    const state = await server.exec(['ps', '-o', 'stat=', '-p', pidFile])
    expect(state.stdout.trim()).toMatch(/^(Z.*)?$/)
  })
})

describe('Wazuh server API stand-in', {timeout: 180_000}, () => {
  const getApiServer = useTestServer()
  let apiPort = 0
  let token = ''

  it('authenticates the API users from the tar', async () => {
    const server = getApiServer()
    apiPort = await freePort()
    await installWazuhStandins(server, {apiPort})
    const install = await runWazuhInstaller(server, {args: ['-a', '-p', String(await freePort())]})
    expect(install.exitCode, install.stdout).toBe(0)
    expect(await server.readFile('/var/ossec/api/configuration/api.yaml')).toMatch(new RegExp(`^port: ${apiPort}$`, 'm'))

    const passwords = await readInstallPasswords(server)
    const wrong = await wazuhApiRequest(server, {port: apiPort, method: 'POST', path: '/security/user/authenticate', basic: {user: 'wazuh-wui', password: 'wazuh-wui'}})
    expect(wrong.status).toBe(401)

    const login = await wazuhApiRequest(server, {port: apiPort, method: 'POST', path: '/security/user/authenticate', basic: {user: 'wazuh-wui', password: passwords.api['wazuh-wui']!}})
    expect(login.status).toBe(200)
    token = (login.body as {data: {token: string}}).data.token
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

    const raw = await wazuhApiRequest(server, {port: apiPort, method: 'POST', path: '/security/user/authenticate?raw=true', basic: {user: 'wazuh', password: passwords.api['wazuh']!}})
    expect(raw.text).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

    const anonymous = await wazuhApiRequest(server, {port: apiPort, path: '/manager/info'})
    expect(anonymous.status).toBe(401)
  })

  it('reports version, status and info', async () => {
    const server = getApiServer()
    const root = await wazuhApiRequest(server, {port: apiPort, path: '/', token})
    expect(root.body).toMatchObject({data: {title: 'Wazuh API REST', api_version: '4.12.0'}, error: 0})

    const status = await wazuhApiRequest(server, {port: apiPort, path: '/manager/status', token})
    expect(status.body).toMatchObject({data: {affected_items: [{'wazuh-analysisd': 'running', 'wazuh-clusterd': 'stopped'}], total_affected_items: 1}, error: 0})

    const info = await wazuhApiRequest(server, {port: apiPort, path: '/manager/info', token})
    expect(info.body).toMatchObject({data: {affected_items: [{version: 'v4.12.0', type: 'server', path: '/var/ossec'}]}, error: 0})
  })

  it('lists seeded agents and groups', async () => {
    const server = getApiServer()
    await seedAgents(server, [
      {id: '001', name: 'win-agent-01', ip: '192.0.2.10', groups: ['default', 'windows']},
      {id: '002', name: 'win-agent-02', status: 'disconnected'},
    ])
    expect(await server.readFile('/var/ossec/etc/client.keys')).toMatch(/^001 win-agent-01 192\.0\.2\.10 \S+\n002 win-agent-02 any \S+\n$/)
    const listed = await server.exec(['/var/ossec/bin/agent_control', '-l'])
    expect(listed.stdout).toContain('   ID: 001, Name: win-agent-01, IP: 192.0.2.10, Active\n')
    expect(listed.stdout).toContain('   ID: 002, Name: win-agent-02, IP: any, Disconnected\n')

    const active = await wazuhApiRequest(server, {port: apiPort, path: '/agents?status=active&select=name,status', token})
    expect(active.body).toMatchObject({data: {affected_items: [{id: '000', status: 'active'}, {id: '001', name: 'win-agent-01', status: 'active'}], total_affected_items: 2}})

    const created = await wazuhApiRequest(server, {port: apiPort, method: 'POST', path: '/groups', token, body: '{"group_id": "windows"}'})
    expect(created.body).toEqual({message: "Group 'windows' created.", error: 0})
    expect(await statOf(server, '/var/ossec/etc/shared/windows/agent.conf')).toBe('wazuh:wazuh 660')
    const again = await wazuhApiRequest(server, {port: apiPort, method: 'POST', path: '/groups', token, body: '{"group_id": "windows"}'})
    expect(again.status).toBe(400)

    const groups = await wazuhApiRequest(server, {port: apiPort, path: '/groups', token})
    const names = (groups.body as {data: {affected_items: Array<{name: string; count: number}>}}).data.affected_items.map((group) => `${group.name}:${group.count}`)
    expect(names).toEqual(['default:2', 'windows:1'])

    const members = await wazuhApiRequest(server, {port: apiPort, path: '/groups/windows/agents', token})
    expect((members.body as {data: {affected_items: Array<{id: string}>}}).data.affected_items.map((agent) => agent.id)).toEqual(['001'])

    const update = await wazuhApiRequest(server, {port: apiPort, method: 'PUT', path: '/groups/windows/configuration', token, contentType: 'application/xml',
      body: '<agent_config os="Windows">\n  <localfile>\n    <location>Microsoft-Windows-Sysmon/Operational</location>\n    <log_format>eventchannel</log_format>\n  </localfile>\n</agent_config>\n'})
    expect(update.body).toMatchObject({error: 0, data: {affected_items: ['windows']}})
    const check = await server.exec(['/var/ossec/bin/verify-agent-conf', '-f', '/var/ossec/etc/shared/windows/agent.conf'])
    expect(check.stdout).toContain('verify-agent-conf: OK')
    const bad = await wazuhApiRequest(server, {port: apiPort, method: 'PUT', path: '/groups/windows/configuration', token, contentType: 'application/xml', body: '<agent_config><localfile></agent_config>'})
    expect(bad.status).toBe(400)
    expect(await server.readFile('/var/ossec/etc/shared/windows/agent.conf')).toContain('Microsoft-Windows-Sysmon/Operational')
  })

  it('validates the configuration', async () => {
    const server = getApiServer()
    const valid = await wazuhApiRequest(server, {port: apiPort, path: '/manager/configuration/validation', token})
    expect(valid.body).toMatchObject({data: {affected_items: [{name: 'node01', status: 'OK'}], total_failed_items: 0}, error: 0})

    await appendToFile(server, '/var/ossec/etc/ossec.conf', '<ossec_config>\n  <integration>\n    <name>custom-x</name>\n    <grup>x</grup>\n  </integration>\n</ossec_config>\n')
    const invalid = await wazuhApiRequest(server, {port: apiPort, path: '/manager/configuration/validation', token})
    const body = invalid.body as {error: number; data: {total_failed_items: number; failed_items: Array<{error: {code: number; message: string}}>}}
    expect(body.error).toBe(1)
    expect(body.data.failed_items[0]!.error.code).toBe(1908)
    expect(body.data.failed_items[0]!.error.message).toContain("Invalid element in the configuration: 'grup'.")

    const rejected = await wazuhApiRequest(server, {port: apiPort, method: 'PUT', path: '/manager/restart', token})
    expect((rejected.body as {error: number}).error).toBe(1)
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-analysisd is running...')
  })

  it('restarts the manager on request', async () => {
    const server = getApiServer()
    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '<ossec_config>\n  <integration>\n    <name>custom-x</name>\n    <grup>x</grup>\n  </integration>\n</ossec_config>\n', '')
    const before = (await server.exec(['sh', '-c', 'ls /var/ossec/var/run/wazuh-analysisd-*.pid'])).stdout.trim()

    const restart = await wazuhApiRequest(server, {port: apiPort, method: 'PUT', path: '/manager/restart', token})
    expect(restart.body).toMatchObject({data: {affected_items: ['node01']}, error: 0})

    let after = before
    for (let attempt = 0; attempt < 100 && (after === before || after === ''); attempt++) {
      await sleep(100)
      after = (await server.exec(['sh', '-c', 'ls /var/ossec/var/run/wazuh-analysisd-*.pid 2>/dev/null'])).stdout.trim()
    }
    expect(after).toMatch(/wazuh-analysisd-\d+\.pid$/)
    expect(after).not.toBe(before)
  })

  it('4.7 install rejects integration timeout', async () => {
    const server = getApiServer()
    const install = await runWazuhInstaller(server, {version: '4.7', args: ['-a', '-o', '-p', String(await freePort())]})
    expect(install.exitCode, install.stdout + install.stderr).toBe(0)
    expect(install.stdout).toContain('Wazuh version: 4.7.5')
    expect((await wazuhControl(server, 'info', '-v')).stdout.trim()).toBe('v4.7.5')

    await server.writeFile('/var/ossec/integrations/custom-standin-test', integrationScript, {owner: 'root', group: 'wazuh', mode: 0o750})
    await appendToFile(server, '/var/ossec/etc/ossec.conf', integrationBlock('mispwazuh_selftest', '    <timeout>7</timeout>'))
    const check = await server.exec(['/var/ossec/bin/wazuh-integratord', '-t'])
    expect(check.exitCode).toBe(1)
    expect(check.stderr).toContain("Invalid element in the configuration: 'timeout'.")
    const restart = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(restart.exitCode).toBe(1)

    await replaceInFile(server, '/var/ossec/etc/ossec.conf', '    <timeout>7</timeout>\n', '')
    await appendToFile(server, '/var/ossec/etc/rules/local_rules.xml', selfTestRules)
    const fixed = await server.exec(['systemctl', 'restart', 'wazuh-manager'])
    expect(fixed.exitCode, fixed.stderr + await managerDiagnostics(server)).toBe(0)
    expect((await wazuhControl(server, 'status')).stdout).toContain('wazuh-integratord is running...')

    // 4.7 integratord passes no timeout and retries: the redirect string is argv[6].
    await sendQueueMessage(server, '1:mispwazuh-selftest:{"mispwazuh":{"selftest":"old.example.org"}}')
    await waitForAlert(server, (alert) => alert.rule.id === '100211')
    let runs = await readIntegrationRuns(server)
    for (let attempt = 0; runs.length === 0 && attempt < 50; attempt++) {
      await sleep(100)
      runs = await readIntegrationRuns(server)
    }
    expect(runs[0]!.argv).toHaveLength(7)
    expect(runs[0]!.argv[6]).toBe('> /dev/null 2>&1')
  })
})
