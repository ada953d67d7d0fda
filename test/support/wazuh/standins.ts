/**
 * Wazuh stand-ins for the Debian test server. The Wazuh manager daemons cannot run here, so
 * these put in their place, inside the server's root filesystem:
 *
 * - /usr/local/lib/wazuh-standin: the Python stand-ins (installer, wazuh-control, the -t
 *   validators, the manager process with the queue socket, rules, alerts and integratord,
 *   the server API, the dashboard listener) and the stock Wazuh 4.12 files from test/fixtures/wazuh;
 * - /usr/local/bin/curl: serves https://packages.wazuh.com/<major.minor>/wazuh-install.sh from
 *   the installer stand-in and passes every other call to /usr/bin/curl;
 * - /usr/local/bin/systemctl: start, stop, restart, is-active, status, enable for wazuh-manager,
 *   wazuh-indexer, wazuh-dashboard, filebeat, docker and cron;
 * - /etc/wazuh-standin.json: the settings below.
 *
 * Nothing here is shipped or reachable from the product: the product finds these exactly where
 * it would find the real programs.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {CommandResult, TestServer} from '../test-server.js'

const supportDirectory = path.dirname(fileURLToPath(import.meta.url))
const repositoryRoot = path.resolve(supportDirectory, '../../..')
const fixtureDirectory = path.join(repositoryRoot, 'test/fixtures/wazuh')

/** Where the stand-in library lives inside the test server. */
export const standinLibrary = '/usr/local/lib/wazuh-standin'
export const wazuhHome = '/var/ossec'
export const alertsPath = `${wazuhHome}/logs/alerts/alerts.json`
export const ossecLogPath = `${wazuhHome}/logs/ossec.log`
export const queueSocketPath = `${wazuhHome}/queue/sockets/queue`
/** One JSON line per integration run, written by the manager stand-in for tests only. */
export const integrationRunsPath = `${wazuhHome}/.standin/integration-runs.jsonl`
export const curlLogPath = '/var/log/curl-standin.log'

export interface WazuhStandinOptions {
  /**
   * Port of the server API stand-in. Default 55000, the real default. The test server shares
   * this machine's network, so test files that install Wazuh at the same time need different
   * ports. The port is also written to /var/ossec/api/configuration/api.yaml as `port:`, where
   * the real API reads it.
   */
  apiPort?: number
  /** Version installed by the installer stand-in when it is run without the curl wrapper. Default 4.12.0. */
  defaultVersion?: string
  /** Extra or changed URL versions for the curl wrapper, e.g. {'4.12': '4.12.0'}. */
  installerVersions?: Record<string, string>
  /** Hardware values for the installer's check, in place of /proc (cores, total MB). */
  hardware?: {cores?: number; memoryMb?: number}
}

/** Copies the stand-ins into the test server. Run it before the product installs Wazuh. */
export async function installWazuhStandins(server: TestServer, options: WazuhStandinOptions = {}): Promise<void> {
  const library = server.pathOnHost(standinLibrary)
  fs.rmSync(library, {recursive: true, force: true})
  fs.cpSync(path.join(supportDirectory, 'standin'), library, {
    recursive: true,
    filter: (source) => !source.includes('__pycache__'),
  })

  const fixtures = path.join(library, 'fixtures')
  const copies: Array<[string, string]> = [
    ['config/ossec.conf.manager-ubuntu24.04-v4.12.0.xml', 'ossec.conf'],
    ['config/local_decoder.xml', 'local_decoder.xml'],
    ['config/agent.conf.default.xml', 'agent.conf'],
    ['rules/local_rules.xml', 'local_rules.xml'],
    ['lists/audit-keys', 'lists/audit-keys'],
    ['lists/security-eventchannel', 'lists/security-eventchannel'],
  ]
  for (const name of ['0015-ossec_rules.xml', '0490-virustotal_rules.xml', '0575-win-base_rules.xml', '0595-win-sysmon_rules.xml', '0800-sysmon_id_1.xml']) {
    copies.push([`rules/${name}`, `rules/${name}`])
  }
  for (const [source, target] of copies) {
    fs.mkdirSync(path.dirname(path.join(fixtures, target)), {recursive: true})
    fs.copyFileSync(path.join(fixtureDirectory, source), path.join(fixtures, target))
  }
  setTreeModes(library)

  const settings = {
    apiPort: options.apiPort ?? 55000,
    defaultVersion: options.defaultVersion ?? '4.12.0',
    installerVersions: options.installerVersions ?? {},
    hardware: options.hardware ?? {},
  }
  await server.writeFile('/etc/wazuh-standin.json', `${JSON.stringify(settings, null, 2)}\n`)

  for (const tool of ['curl', 'systemctl']) {
    const wrapper = [
      '#!/bin/sh',
      `# Test stand-in (mispwazuh tests): see ${standinLibrary}/wazuh_standin/${tool}.py.`,
      `PYTHONPATH=${standinLibrary} exec /usr/bin/python3 -m wazuh_standin.${tool} "$@"`,
      '',
    ].join('\n')
    await server.writeFile(`/usr/local/bin/${tool}`, wrapper, {mode: 0o755})
  }
}

function setTreeModes(directory: string): void {
  fs.chmodSync(directory, 0o755)
  for (const entry of fs.readdirSync(directory, {withFileTypes: true})) {
    const full = path.join(directory, entry.name)
    if (entry.isDirectory()) setTreeModes(full)
    else fs.chmodSync(full, 0o644)
  }
}

export interface RunInstallerOptions {
  /** major.minor in the download URL. Default '4.12'. */
  version?: string
  /** Installer arguments. Default ['-a']. */
  args?: string[]
  /** Directory the installer is downloaded to and run from. Default /root. */
  directory?: string
}

/**
 * Downloads the installer through the curl wrapper and runs it with bash, as setup does.
 * Returns the installer's result; wazuh-install-files.tar lands in `directory`.
 */
export async function runWazuhInstaller(server: TestServer, options: RunInstallerOptions = {}): Promise<CommandResult> {
  const directory = options.directory ?? '/root'
  const url = `https://packages.wazuh.com/${options.version ?? '4.12'}/wazuh-install.sh`
  const download = await server.exec(['curl', '-sSfL', '-o', `${directory}/wazuh-install.sh`, url])
  if (download.exitCode !== 0) return download
  const script = 'cd "$1" && shift && exec bash wazuh-install.sh "$@"'
  return server.exec(['bash', '-c', script, 'bash', directory, ...(options.args ?? ['-a'])])
}

/** Sends one datagram to the manager's queue socket from inside the server, as an integration does. */
export async function sendQueueMessage(server: TestServer, message: string, options: {user?: string} = {}): Promise<void> {
  const program = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.connect(${JSON.stringify(queueSocketPath)})`,
    's.send(sys.stdin.buffer.read())',
  ].join('\n')
  const result = await server.exec(['python3', '-c', program], {stdin: message, user: options.user ?? 'root'})
  if (result.exitCode !== 0) throw new Error(`Sending to ${queueSocketPath} failed: ${result.stderr.trim()}`)
}

export interface WazuhAlert {
  timestamp: string
  rule: {level: number; description: string; id: string; firedtimes: number; mail: boolean; groups: string[]; [key: string]: unknown}
  agent: {id: string; name: string; ip?: string}
  manager: {name: string}
  id: string
  full_log?: string
  decoder: {name: string}
  data?: Record<string, unknown>
  location: string
}

/** Reads alerts.json from the server, one alert per line. Returns [] when the file does not exist. */
export async function readAlerts(server: TestServer): Promise<WazuhAlert[]> {
  let text: string
  try {
    text = await server.readFile(alertsPath)
  } catch {
    return []
  }
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as WazuhAlert)
}

/** Polls alerts.json until an alert satisfies `predicate`, or throws after `timeoutMs` listing what was seen. */
export async function waitForAlert(server: TestServer, predicate: (alert: WazuhAlert) => boolean, timeoutMs = 30_000): Promise<WazuhAlert> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const alerts = await readAlerts(server)
    const found = alerts.find(predicate)
    if (found) return found
    if (Date.now() > deadline) {
      const seen = alerts.map((alert) => `${alert.rule.id}@${alert.location}`).join(', ') || 'none'
      throw new Error(`No matching alert in ${alertsPath} within ${timeoutMs} ms. Alerts seen: ${seen}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export interface IntegrationRun {
  name: string
  argv: string[]
  user: string
  rule_id: string
  alert_id: string
  exit_code: number | null
  seconds: number
}

export async function readIntegrationRuns(server: TestServer): Promise<IntegrationRun[]> {
  let text: string
  try {
    text = await server.readFile(integrationRunsPath)
  } catch {
    return []
  }
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as IntegrationRun)
}

export interface SeedAgent {
  id: string
  name: string
  /** Registration IP as in client.keys. Default 'any'. */
  ip?: string
  /** Default: active. */
  status?: 'active' | 'disconnected' | 'pending' | 'never_connected'
  groups?: string[]
  os?: {name?: string; platform?: string; version?: string}
  lastKeepAlive?: string
}

/**
 * Registers agents: one client.keys line each (wazuh:wazuh 0640, as the manager keeps it) and
 * their status, groups and OS for the server API stand-in.
 */
export async function seedAgents(server: TestServer, agents: readonly SeedAgent[]): Promise<void> {
  const keyLines = agents.map((agent) => `${agent.id} ${agent.name} ${agent.ip ?? 'any'} ${'0'.repeat(64)}`)
  await server.writeFile(`${wazuhHome}/etc/client.keys`, keyLines.length > 0 ? `${keyLines.join('\n')}\n` : '', {
    owner: 'wazuh', group: 'wazuh', mode: 0o640,
  })
  await server.writeFile(`${wazuhHome}/.standin/agents.json`, `${JSON.stringify(agents, null, 2)}\n`, {mode: 0o600})
}

/** Makes the next manager start fail (after a stop), as a manager that does not come back would. */
export async function failNextManagerStart(server: TestServer): Promise<void> {
  await server.writeFile(`${wazuhHome}/.standin/fail-next-restart`, 'Written by a test.\n', {mode: 0o600})
}

export interface SysmonDnsQuery {
  agentId?: string
  agentName?: string
  agentIp?: string
  queryName: string
  image?: string
}

/**
 * Builds the queue message wazuh-remoted hands to analysisd for a Sysmon event 22 (DNS query)
 * read by a Windows agent from the Microsoft-Windows-Sysmon/Operational channel.
 */
export function sysmonDnsQueryMessage(query: SysmonDnsQuery): string {
  const image = query.image ?? 'C:\\Windows\\System32\\svchost.exe'
  const utcTime = new Date().toISOString().replace('T', ' ').replace('Z', '')
  const data: Array<[string, string]> = [
    ['RuleName', '-'], ['UtcTime', utcTime], ['ProcessGuid', '{4dc16835-e4b7-612f-d002-000000001900}'],
    ['ProcessId', '2412'], ['QueryName', query.queryName], ['QueryStatus', '0'],
    ['QueryResults', 'type:  5 example.invalid;192.0.2.1;'], ['Image', image], ['User', 'NT AUTHORITY\\SYSTEM'],
  ]
  const escape = (value: string) => value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll("'", '&apos;')
  const eventXml = [
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>",
    "<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>",
    '<EventID>22</EventID><Version>5</Version><Level>4</Level><Task>22</Task><Opcode>0</Opcode>',
    `<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='${new Date().toISOString()}'/>`,
    "<EventRecordID>182667</EventRecordID><Correlation/><Execution ProcessID='2400' ThreadID='1592'/>",
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>win-agent-01</Computer><Security UserID='S-1-5-18'/>",
    '</System><EventData>',
    ...data.map(([name, value]) => `<Data Name='${name}'>${escape(value)}</Data>`),
    '</EventData></Event>',
  ].join('')
  const message = ['Dns query:', ...data.map(([name, value]) => `${name}: ${value}`)].join('\r\n')
  const payload = JSON.stringify({Message: message, Event: eventXml})
  const location = `[${query.agentId ?? '001'}] (${query.agentName ?? 'win-agent-01'}) ${query.agentIp ?? 'any'}->EventChannel`
  return `f:${location.replaceAll('|', '||').replaceAll(':', '|:')}:${payload}`
}

/** Runs wazuh-control with arguments inside the server. */
export function wazuhControl(server: TestServer, ...args: string[]): Promise<CommandResult> {
  return server.exec([`${wazuhHome}/bin/wazuh-control`, ...args])
}

/** Reads wazuh-passwords.txt from the installer's tar and returns user → password for indexer and API users. */
export async function readInstallPasswords(server: TestServer, tarPath = '/root/wazuh-install-files.tar'): Promise<{indexer: Record<string, string>; api: Record<string, string>}> {
  const result = await server.exec(['tar', '-xzOf', tarPath, 'wazuh-install-files/wazuh-passwords.txt'])
  if (result.exitCode !== 0) throw new Error(`Reading wazuh-passwords.txt from ${tarPath} failed: ${result.stderr.trim()}`)

  const passwords = {indexer: {} as Record<string, string>, api: {} as Record<string, string>}
  for (const match of result.stdout.matchAll(/^ {2}(indexer|api)_username: '([^']+)'\n {2}\1_password: '([^']+)'$/gm)) {
    passwords[match[1] as 'indexer' | 'api'][match[2]!] = match[3]!
  }
  return passwords
}

export interface ApiResponse {
  status: number
  body: unknown
  text: string
}

export interface ApiRequest {
  method?: string
  path: string
  port?: number
  /** Bearer token from /security/user/authenticate. */
  token?: string
  /** HTTP basic credentials, for /security/user/authenticate. */
  basic?: {user: string; password: string}
  body?: string
  contentType?: string
}

/**
 * Sends one request to the server API stand-in on 127.0.0.1, trusting exactly the API's own
 * self-signed certificate from api/configuration/ssl/server.crt, whose only name is localhost.
 */
export async function wazuhApiRequest(server: TestServer, request: ApiRequest): Promise<ApiResponse> {
  const https = await import('node:https')
  const certificate = await server.readFile(`${wazuhHome}/api/configuration/ssl/server.crt`)
  const headers: Record<string, string> = {}
  if (request.token) headers['Authorization'] = `Bearer ${request.token}`
  if (request.basic) headers['Authorization'] = `Basic ${Buffer.from(`${request.basic.user}:${request.basic.password}`).toString('base64')}`
  if (request.body !== undefined) {
    headers['Content-Type'] = request.contentType ?? 'application/json'
    headers['Content-Length'] = String(Buffer.byteLength(request.body))
  }

  return new Promise((resolve, reject) => {
    const outgoing = https.request({
      host: '127.0.0.1',
      servername: 'localhost',
      port: request.port ?? 55000,
      method: request.method ?? 'GET',
      path: request.path,
      headers,
      ca: certificate,
    }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // Plain-text answers (for example ?raw=true tokens) stay as text.
        }
        resolve({status: response.statusCode ?? 0, body, text})
      })
    })
    outgoing.on('error', reject)
    if (request.body !== undefined) outgoing.write(request.body)
    outgoing.end()
  })
}

/** Returns the last lines of ossec.log and of the manager stand-in's stderr, for assertion messages. */
export async function managerDiagnostics(server: TestServer, lines = 20): Promise<string> {
  const tail = async (path: string) => {
    const result = await server.exec(['tail', '-n', String(lines), path])
    return result.exitCode === 0 ? result.stdout : `(${path} could not be read: ${result.stderr.trim()})`
  }
  return `ossec.log:\n${await tail(ossecLogPath)}\nmanager stderr:\n${await tail(`${wazuhHome}/.standin/manager.stderr`)}`
}
