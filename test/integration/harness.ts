/**
 * Runs templates/integrations/custom-misp.py the way wazuh-integratord does, against the MISP
 * double and a queue socket listener, each test in its own temporary directory.
 */
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const integrationScript = path.join(repositoryRoot, 'templates/integrations/custom-misp.py')
export const alertFixtures = path.join(repositoryRoot, 'test/fixtures/wazuh/alerts')

/** Interpreter for the script; MISPWAZUH_TEST_PYTHON selects another one (e.g. a Python 3.8). */
export const python = process.env.MISPWAZUH_TEST_PYTHON ?? 'python3'

export type Alert = Record<string, unknown>

export interface Workspace {
  directory: string
  configFile: string
  logFile: string
  cacheDirectory: string
  stateFile: string
  /** Current config file content. */
  settings: Record<string, unknown>
  /** Rewrite the config file with these settings merged in (undefined removes a setting). */
  configure(changes: Record<string, unknown>): void
  /** Lines of the integration log so far. */
  logLines(): string[]
  cleanup(): void
}

export interface WorkspaceOptions {
  mispUrl: string
  apiKey: string
  caFile: string
  queueSocket: string
  settings?: Record<string, unknown>
}

/** Create a directory with a config file (mode 0640) that points the script at the test doubles. */
export function createWorkspace(options: WorkspaceOptions): Workspace {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-integration-'))
  const configFile = path.join(directory, 'misp.json')
  const logFile = path.join(directory, 'integrations.log')
  const cacheDirectory = path.join(directory, 'cache')
  const stateFile = path.join(directory, 'state', 'state.json')

  const workspace: Workspace = {
    directory,
    configFile,
    logFile,
    cacheDirectory,
    stateFile,
    settings: {
      misp_url: options.mispUrl,
      api_key: options.apiKey,
      ca_file: options.caFile,
      queue_socket: options.queueSocket,
      log_file: logFile,
      cache_dir: cacheDirectory,
      state_file: stateFile,
      connect_timeout: 2,
      read_timeout: 2,
      total_timeout: 4,
      ...options.settings,
    },
    configure(changes) {
      const next: Record<string, unknown> = {...workspace.settings}
      for (const [name, value] of Object.entries(changes)) {
        if (value === undefined) delete next[name]
        else next[name] = value
      }
      workspace.settings = next
      writeConfig()
    },
    logLines() {
      if (!fs.existsSync(logFile)) return []
      return fs.readFileSync(logFile, 'utf8').split('\n').filter((line) => line !== '')
    },
    cleanup() {
      fs.rmSync(directory, {recursive: true, force: true})
    },
  }

  function writeConfig(): void {
    fs.writeFileSync(configFile, `${JSON.stringify(workspace.settings, null, 2)}\n`, {mode: 0o640})
  }

  writeConfig()
  return workspace
}

export interface RunOptions {
  /** Arguments after the alert file; default as integratord 4.12 passes them without <api_key>, in debug mode. */
  args?: string[]
  /** Config file path for MISPWAZUH_INTEGRATION_CONFIG; default the workspace's. */
  configFile?: string | null
  /** Write the alert file content as given instead of as JSON. */
  rawAlert?: string
  /** Pass this path as the alert file argument instead of writing one. */
  alertPath?: string
}

export interface RunResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  durationMs: number
  /** Integration log lines written by this run. */
  log: string[]
}

/** Default integratord arguments after the alert file: api_key, hook_url, debug, options, timeout, retries. */
export const integratordArgs = ['', '', 'debug', '', '10', '3']

/** Load an alert fixture (one JSON object) by file name. */
export function loadAlert(name: string): Alert {
  return JSON.parse(fs.readFileSync(path.join(alertFixtures, name), 'utf8')) as Alert
}

/** Run the integration once for one alert and wait for it to exit. */
export async function runIntegration(workspace: Workspace, alert: Alert | null, options: RunOptions = {}): Promise<RunResult> {
  const alertFile = options.alertPath ?? path.join(workspace.directory, `custom-misp-${Date.now()}-${randomBytes(4).toString('hex')}.alert`)
  if (options.alertPath === undefined) fs.writeFileSync(alertFile, options.rawAlert ?? `${JSON.stringify(alert)}\n`)
  const logBefore = workspace.logLines().length

  const env: NodeJS.ProcessEnv = {...process.env}
  if (options.configFile === null) delete env.MISPWAZUH_INTEGRATION_CONFIG
  else env.MISPWAZUH_INTEGRATION_CONFIG = options.configFile ?? workspace.configFile

  const started = performance.now()
  const child = spawn(python, [integrationScript, alertFile, ...(options.args ?? integratordArgs)], {env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('close', (code, killSignal) => resolve([code, killSignal]))
  })
  const durationMs = performance.now() - started
  if (options.alertPath === undefined) fs.rmSync(alertFile, {force: true})

  return {exitCode, signal, stdout, stderr, durationMs, log: workspace.logLines().slice(logBefore)}
}

/** Parse the JSON payload of a queue message. */
export function payloadOf(message: {payload: string}): {integration: string; misp: Record<string, unknown>} {
  return JSON.parse(message.payload) as {integration: string; misp: Record<string, unknown>}
}

/** Return a deep copy of the alert with the dotted path set (or removed when value is undefined). */
export function withField(alert: Alert, dottedPath: string, value: unknown): Alert {
  const copy = structuredClone(alert)
  const keys = dottedPath.split('.')
  let node: Record<string, unknown> = copy
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  const last = keys[keys.length - 1] as string
  if (value === undefined) delete node[last]
  else node[last] = value
  return copy
}

/** restSearch requests the double received. */
export function restSearchBodies(requests: {path: string; body: unknown}[]): Record<string, unknown>[] {
  return requests.filter((request) => request.path.startsWith('/attributes/restSearch')).map((request) => request.body as Record<string, unknown>)
}
