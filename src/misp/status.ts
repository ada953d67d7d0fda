import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import {MispwazuhError} from '../errors.js'
import {MispError} from './client.js'
import {credentialsFileIn, mispClientFor, readMispAccess, type MispAccess} from './credentials.js'

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
  const credentialsFile = credentialsFileIn(options.configDir ?? '/etc/mispwazuh')
  const items: MispStatusItem[] = []
  let url: string | undefined
  const report = (): MispStatusReport => ({target: target.name, url, items, failed: items.filter((item) => !item.ok).length})

  let access: MispAccess
  try {
    access = await readMispAccess(target, options.redactor, credentialsFile)
  } catch (error) {
    if (!(error instanceof MispwazuhError)) throw error
    items.push({title: 'credentials file', ok: false, found: error.message, fix: error.fix})
    return report()
  }

  url = access.url
  const stat = await target.stat(credentialsFile)
  const rootOnly = stat !== undefined && (stat.mode & 0o077) === 0 && stat.owner === 'root'
  items.push({title: 'credentials file', ok: rootOnly, found: `${credentialsFile} (${stat?.owner}:${stat?.group} 0${((stat?.mode ?? 0) & 0o7777).toString(8)})`, fix: rootOnly ? undefined : `chmod 600 ${credentialsFile}; chown root:root ${credentialsFile}`})

  const admin = mispClientFor(access, access.adminKey, options.log)
  const {wazuhKey, wazuhUser} = access

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

  const me = wazuhKey ? await probe(() => mispClientFor(access, wazuhKey, options.log).getCurrentUser()) : {ok: false as const, error: 'key file missing or invalid'}
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

async function probe<T>(call: () => Promise<T>): Promise<{ok: true; value: T} | {ok: false; error: string}> {
  try {
    return {ok: true, value: await call()}
  } catch (error) {
    if (error instanceof MispError) return {ok: false, error: error.message}
    throw error
  }
}
