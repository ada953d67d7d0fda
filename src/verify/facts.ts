import path from 'node:path/posix'

import {AUTH_KEY_PATTERN, MispClient} from '../misp/client.js'
import {readManagerFacts, wazuhPaths, type ManagerFacts} from '../wazuh/manager.js'
import {readRulesetConfig, loadRuleset, type LoadedRuleset} from '../wazuh/rules.js'
import {parseWazuhXml, type WazuhXmlDocument} from '../wazuh/xml-text.js'
import type {FileStat} from '../target/target.js'
import type {VerifyContext} from './types.js'

/** The root-only file `mispwazuh setup` writes with MISP's URL and where its keys and CA are. */
export const CREDENTIALS_FILE = '/etc/mispwazuh/misp-credentials'
const DEFAULT_ADMIN_KEY_FILE = '/etc/mispwazuh/misp-admin.key'
const DEFAULT_WAZUH_KEY_FILE = '/etc/mispwazuh/misp-wazuh.key'
const DEFAULT_CA_FILE = '/etc/mispwazuh/misp-ca.crt'

/** A value read from the target, or why it could not be read. */
export type Loaded<T> = {value: T; problem?: undefined} | {value?: undefined; problem: string}

export interface Credentials {
  file: string
  url: string | undefined
  adminKeyFile: string
  wazuhKeyFile: string
  wazuhUser: string | undefined
  caFile: string
  pinnedSha256: string | undefined
}

export interface IntegrationConfig {
  path: string
  stat: FileStat
  values: Record<string, unknown>
}

/** Returns the path of the integration's JSON config file, as the installed script reads it by default. */
export function integrationConfigPath(wazuhDir: string): string {
  return path.join(wazuhPaths(wazuhDir).stateDir, 'misp.json')
}

/** Parses the `KEY=value` lines of the credentials file; comments and blank lines are skipped. */
export function parseCredentials(file: string, text: string): Credentials {
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const equals = trimmed.indexOf('=')
    if (equals > 0) values.set(trimmed.slice(0, equals), trimmed.slice(equals + 1))
  }

  return {
    file,
    url: values.get('MISP_URL')?.replace(/\/+$/, ''),
    adminKeyFile: values.get('MISP_ADMIN_KEY_FILE') || DEFAULT_ADMIN_KEY_FILE,
    wazuhKeyFile: values.get('MISP_WAZUH_KEY_FILE') || DEFAULT_WAZUH_KEY_FILE,
    wazuhUser: values.get('MISP_WAZUH_USER') || undefined,
    caFile: values.get('MISP_CA_FILE') || DEFAULT_CA_FILE,
    pinnedSha256: values.get('MISP_PINNED_SHA256') || undefined,
  }
}

/**
 * Everything the hops read from the targets, each read once and only when a hop needs it.
 * Every secret read here (auth keys, the admin password line of the credentials file) is
 * registered with the redactor before it is used.
 */
export class VerifyFacts {
  private readonly cache = new Map<string, Promise<unknown>>()

  constructor(private readonly context: VerifyContext) {}

  private once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let promise = this.cache.get(key) as Promise<T> | undefined
    if (!promise) {
      promise = load()
      this.cache.set(key, promise)
    }

    return promise
  }

  get wazuhDir(): string {
    return this.context.wazuhDir
  }

  credentials(): Promise<Loaded<Credentials>> {
    return this.once('credentials', async () => {
      const {mispTarget, redactor} = this.context
      if (!(await mispTarget.exists(CREDENTIALS_FILE))) return {problem: `${CREDENTIALS_FILE} does not exist on ${mispTarget.name}`}
      const text = await mispTarget.readText(CREDENTIALS_FILE)
      const password = /^MISP_ADMIN_PASSWORD=(.*)$/m.exec(text)?.[1]
      redactor.register(password, 'misp-admin-password')
      return {value: parseCredentials(CREDENTIALS_FILE, text)}
    })
  }

  /** Reads a one-line auth key from a root-only file and registers it with the redactor. */
  private async readKey(file: string, label: string): Promise<Loaded<string>> {
    const {mispTarget, redactor} = this.context
    const stat = await mispTarget.stat(file)
    if (stat?.type !== 'file') return {problem: `${file} does not exist on ${mispTarget.name}`}
    const key = (await mispTarget.readText(file)).trim()
    redactor.register(key, label)
    if (!AUTH_KEY_PATTERN.test(key)) return {problem: `${file} does not hold a 40-character MISP auth key`}
    return {value: key}
  }

  adminKey(): Promise<Loaded<string>> {
    return this.once('adminKey', async () => {
      const credentials = await this.credentials()
      return this.readKey(credentials.value?.adminKeyFile ?? DEFAULT_ADMIN_KEY_FILE, 'misp-admin-key')
    })
  }

  wazuhKeyFile(): Promise<Loaded<string>> {
    return this.once('wazuhKeyFile', async () => {
      const credentials = await this.credentials()
      return this.readKey(credentials.value?.wazuhKeyFile ?? DEFAULT_WAZUH_KEY_FILE, 'misp-wazuh-key')
    })
  }

  integrationConfig(): Promise<Loaded<IntegrationConfig>> {
    return this.once('integrationConfig', async () => {
      const {target, redactor} = this.context
      const file = integrationConfigPath(this.wazuhDir)
      const stat = await target.stat(file)
      if (stat?.type !== 'file') return {problem: `${file} does not exist on ${target.name}`}
      const text = await target.readText(file)
      let values: unknown
      try {
        values = JSON.parse(text)
      } catch (error) {
        return {problem: `${file} is not valid JSON: ${(error as Error).message}`}
      }

      if (typeof values !== 'object' || values === null || Array.isArray(values)) return {problem: `${file} does not hold a JSON object`}
      const record = values as Record<string, unknown>
      if (typeof record.api_key === 'string') redactor.register(record.api_key, 'misp-wazuh-key')
      return {value: {path: file, stat, values: record}}
    })
  }

  /** Returns the URL of MISP: the credentials file's, else the integration config's. */
  async mispUrl(): Promise<string | undefined> {
    const credentials = await this.credentials()
    if (credentials.value?.url) return credentials.value.url
    const config = await this.integrationConfig()
    const url = config.value?.values.misp_url
    return typeof url === 'string' ? url.replace(/\/+$/, '') : undefined
  }

  /** Reads the PEM the CLI trusts for MISP: the credentials file's CA file, else the integration's ca_file. */
  caPem(): Promise<Loaded<{file: string; pem: string}>> {
    return this.once('caPem', async () => {
      const credentials = await this.credentials()
      const config = await this.integrationConfig()
      const configured = config.value?.values.ca_file
      // setup's CA file lives with the credentials; without them, the integration's copy on the manager is used.
      const target = credentials.value ? this.context.mispTarget : this.context.target
      const file = credentials.value?.caFile ?? (typeof configured === 'string' && configured !== '' ? configured : DEFAULT_CA_FILE)
      if (!(await target.exists(file))) return {problem: `the CA file ${file} does not exist on ${target.name}`}
      return {value: {file, pem: await target.readText(file)}}
    })
  }

  /** Returns a MISP client for `key` that trusts the configured CA (and pin), with short timeouts. */
  async client(key: string): Promise<Loaded<MispClient>> {
    const url = await this.mispUrl()
    if (!url) return {problem: `no MISP URL: neither ${CREDENTIALS_FILE} nor ${integrationConfigPath(this.wazuhDir)} names one`}
    const ca = await this.caPem()
    if (!ca.value) return {problem: ca.problem}
    const credentials = await this.credentials()
    return {
      value: new MispClient({
        url,
        key,
        ca: ca.value.pem,
        pinnedFingerprint: credentials.value?.pinnedSha256,
        retries: 1,
        retryDelayMs: 500,
        connectTimeoutMs: 10_000,
        readTimeoutMs: 60_000,
        log: (line) => this.context.log.info(line),
      }),
    }
  }

  /** Returns the stat of a file of setup's MISP files (on the MISP host when it is another host). */
  mispFileStat(file: string): Promise<FileStat | undefined> {
    return this.context.mispTarget.stat(file)
  }

  manager(): Promise<ManagerFacts> {
    return this.once('manager', () => readManagerFacts(this.context.target, this.wazuhDir))
  }

  ossecConf(): Promise<Loaded<WazuhXmlDocument>> {
    return this.once('ossecConf', async () => {
      const file = wazuhPaths(this.wazuhDir).ossecConf
      if (!(await this.context.target.exists(file))) return {problem: `${file} does not exist on ${this.context.target.name}`}
      try {
        return {value: parseWazuhXml(await this.context.target.readText(file), file)}
      } catch (error) {
        return {problem: (error as Error).message}
      }
    })
  }

  ruleset(): Promise<Loaded<LoadedRuleset>> {
    return this.once('ruleset', async () => {
      const conf = await this.ossecConf()
      if (!conf.value) return {problem: conf.problem}
      try {
        return {value: await loadRuleset(this.context.target, this.wazuhDir, readRulesetConfig(conf.value))}
      } catch (error) {
        return {problem: (error as Error).message}
      }
    })
  }

  /** Returns the interpreter every Wazuh manager ships, or python3 from PATH when it is missing. */
  python(): Promise<string> {
    return this.once('python', async () => {
      const bundled = path.join(this.wazuhDir, 'framework', 'python', 'bin', 'python3')
      return (await this.context.target.exists(bundled)) ? bundled : 'python3'
    })
  }
}
