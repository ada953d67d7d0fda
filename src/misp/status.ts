import path from 'node:path/posix'

import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import {AUTH_KEY_PATTERN, MispClient, MispError} from './client.js'
import {parseEnv} from './env-file.js'

export interface MispStatusItem {
  title: string
  ok: boolean
  /** What was found, e.g. "MISP 2.5.1" or "57 of 59 enabled feeds cached". */
  found: string
  fix?: string
}

export interface MispStatusReport {
  target: string
  url: string | undefined
  items: MispStatusItem[]
  failed: number
}

/**
 * Reads the credentials file that setup wrote on the target and checks, against MISP itself:
 * TLS with the trusted PEM, the admin key, feeds, warninglists, the Wazuh key and the refresh job.
 * Changes nothing.
 */
export async function mispStatus(target: Target, options: {configDir?: string; cronFile?: string; redactor: Redactor; log: RunLog}): Promise<MispStatusReport> {
  const credentialsFile = path.join(options.configDir ?? '/etc/mispwazuh', 'misp-credentials')
  const items: MispStatusItem[] = []
  const report = (): MispStatusReport => ({target: target.name, url: values?.get('MISP_URL'), items, failed: items.filter((item) => !item.ok).length})

  let values: Map<string, string> | undefined
  if (!(await target.exists(credentialsFile))) {
    items.push({title: 'credentials file', ok: false, found: `${credentialsFile} not found`, fix: 'Run `mispwazuh setup` first.'})
    return report()
  }

  values = parseEnv(await target.readText(credentialsFile))
  options.redactor.register(values.get('MISP_ADMIN_PASSWORD'), 'misp-admin-password')
  const stat = await target.stat(credentialsFile)
  const rootOnly = stat !== undefined && (stat.mode & 0o077) === 0 && stat.owner === 'root'
  items.push({title: 'credentials file', ok: rootOnly, found: `${credentialsFile} (${stat?.owner}:${stat?.group} 0${((stat?.mode ?? 0) & 0o7777).toString(8)})`, fix: rootOnly ? undefined : `chmod 600 ${credentialsFile}; chown root:root ${credentialsFile}`})

  const url = values.get('MISP_URL')
  const caFile = values.get('MISP_CA_FILE')
  const adminKey = await readKey(target, values.get('MISP_ADMIN_KEY_FILE'), options.redactor)
  const wazuhKey = await readKey(target, values.get('MISP_WAZUH_KEY_FILE'), options.redactor)
  const ca = caFile && (await target.exists(caFile)) ? await target.readText(caFile) : undefined
  if (!url || !adminKey || !ca) {
    items.push({title: 'MISP access', ok: false, found: `missing ${[!url && 'MISP_URL', !adminKey && 'admin key', !ca && 'CA file'].filter(Boolean).join(', ')}`, fix: 'Run `mispwazuh setup` again.'})
    return report()
  }

  const client = (key: string) => new MispClient({url, key, ca, pinnedFingerprint: values?.get('MISP_PINNED_SHA256'), retries: 1, log: (line) => options.log.info(line)})
  const admin = client(adminKey)

  const version = await probe(() => admin.getVersion())
  items.push({title: 'MISP over verified TLS', ok: version.ok, found: version.ok ? `MISP ${version.value.version} at ${url}` : version.error, fix: version.ok ? undefined : 'Check that MISP runs (docker compose ps in the misp-docker directory) and that the CA file still matches.'})
  if (!version.ok) return report()

  const feeds = await probe(() => admin.listFeeds())
  if (feeds.ok) {
    const enabled = feeds.value.filter((feed) => feed.enabled)
    const cached = enabled.filter((feed) => typeof feed.cache_timestamp === 'string' && feed.cache_timestamp !== '0')
    items.push({title: 'feeds', ok: enabled.length > 0, found: `${enabled.length} of ${feeds.value.length} feeds enabled, ${cached.length} cached`, fix: enabled.length > 0 ? undefined : 'Run `mispwazuh setup` to enable the default feeds.'})
  } else {
    items.push({title: 'feeds', ok: false, found: feeds.error})
  }

  const lists = await probe(() => admin.listWarninglists())
  if (lists.ok) {
    const enabled = lists.value.filter((list) => list.enabled).length
    items.push({title: 'warninglists', ok: enabled > 0 && enabled === lists.value.length, found: `${enabled} of ${lists.value.length} enabled`, fix: enabled === lists.value.length && enabled > 0 ? undefined : 'Run `mispwazuh setup` to enable them.'})
  } else {
    items.push({title: 'warninglists', ok: false, found: lists.error})
  }

  const wazuhUser = values.get('MISP_WAZUH_USER')
  const me = wazuhKey ? await probe(() => client(wazuhKey).getCurrentUser()) : {ok: false as const, error: 'key file missing or invalid'}
  const wazuhOk = me.ok && me.value.User.email === wazuhUser && me.value.Role.perm_site_admin !== true
  items.push({
    title: 'Wazuh auth key',
    ok: wazuhOk,
    found: me.ok ? `authenticates as ${me.value.User.email} (role ${me.value.Role.name})` : me.error,
    fix: wazuhOk ? undefined : 'Run `mispwazuh setup` to create a new key for the Wazuh user.',
  })

  const cronFile = options.cronFile ?? '/etc/cron.d/mispwazuh-misp-refresh'
  const cronText = (await target.exists(cronFile)) ? await target.readText(cronFile) : ''
  const entries = cronText.split('\n').filter((line) => line.includes('mispwazuh-misp-refresh') && !line.trimStart().startsWith('#'))
  items.push({title: 'daily refresh job', ok: entries.length === 1, found: entries.length === 0 ? `no entry in ${cronFile}` : `${entries.length} entry in ${cronFile}`, fix: entries.length === 1 ? undefined : 'Run `mispwazuh setup` to write the cron entry.'})

  return report()
}

async function readKey(target: Target, file: string | undefined, redactor: Redactor): Promise<string | undefined> {
  if (!file || !(await target.exists(file))) return undefined
  const key = (await target.readText(file)).trim()
  redactor.register(key, 'misp-auth-key')
  return AUTH_KEY_PATTERN.test(key) ? key : undefined
}

async function probe<T>(call: () => Promise<T>): Promise<{ok: true; value: T} | {ok: false; error: string}> {
  try {
    return {ok: true, value: await call()}
  } catch (error) {
    if (error instanceof MispError) return {ok: false, error: error.message}
    throw error
  }
}
