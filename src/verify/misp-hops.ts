import {X509Certificate} from 'node:crypto'

import {
  MispAuthError,
  MispConnectionError,
  MispError,
  MispForbiddenError,
  MispHtmlResponseError,
  MispTlsError,
  type MispClient,
  type MispCurrentUser,
} from '../misp/client.js'
import {CREDENTIALS_FILE, integrationConfigPath, type VerifyFacts} from './facts.js'
import {fail, octal, pass, skip, type HopOutcome, type VerifyContext} from './types.js'

const SETUP_AGAIN = 'Run `mispwazuh setup` again with the same options: it rewrites what is missing or wrong.'

/** Facts the reachability hop found, for the hops that depend on it. */
export interface MispReach {
  reachable: boolean
  version: string | undefined
  /** The admin's `users/view/me`, when the admin key works. */
  admin: MispCurrentUser | undefined
  adminClient: MispClient | undefined
}

/**
 * Checks that MISP responds over TLS verified against the configured CA, and reads its version
 * with servers/getVersion and the admin key. A key that MISP rejects still proves the connection.
 */
export async function checkMispReachable(context: VerifyContext, facts: VerifyFacts, reach: MispReach): Promise<HopOutcome> {
  const url = await facts.mispUrl()
  if (!url) return fail(`No MISP URL: neither ${CREDENTIALS_FILE} nor ${integrationConfigPath(facts.wazuhDir)} exists (looked on ${context.mispTarget.name}${context.mispTarget === context.target ? '' : ` and ${context.target.name}`}).`, SETUP_AGAIN)

  const ca = await facts.caPem()
  if (!ca.value) return fail(`MISP is at ${url}, but ${ca.problem}.`, `${SETUP_AGAIN} It writes the CA certificate the CLI and the integration trust.`)

  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(ca.value.pem)
  } catch {
    return fail(`${ca.value.file} is not a PEM certificate.`, `Put the CA certificate that signed MISP's server certificate into ${ca.value.file}. ${SETUP_AGAIN}`)
  }

  const notes: string[] = []
  const expires = Date.parse(certificate.validTo)
  if (expires < Date.now()) {
    return fail(
      `The CA certificate ${ca.value.file} (${certificate.subject.replaceAll('\n', ', ')}) expired on ${new Date(expires).toISOString()}, so no client can verify MISP.`,
      `Issue a new CA and server certificate: move ${ca.value.file} and the CA key (/etc/mispwazuh/ca/misp-ca.key) aside, then run \`mispwazuh setup\` again. For an existing MISP, put its current CA certificate into ${ca.value.file} and into the integration's ca_file.`,
    )
  }

  if (expires - Date.now() < 30 * 24 * 3600 * 1000) notes.push(`The CA certificate ${ca.value.file} expires on ${new Date(expires).toISOString()}.`)

  const admin = await facts.adminKey()
  const config = await facts.integrationConfig()
  const wazuhKey = typeof config.value?.values.api_key === 'string' ? config.value.values.api_key : undefined
  const key = admin.value ?? wazuhKey
  if (!key) return fail(`MISP is at ${url}, but no auth key to ask it with: ${admin.problem}.`, SETUP_AGAIN)

  const client = await facts.client(key)
  if (!client.value) return fail(`Cannot build a MISP client: ${client.problem}.`, SETUP_AGAIN)

  try {
    const version = await client.value.getVersion()
    reach.reachable = true
    reach.version = version.version
    if (admin.value) {
      reach.adminClient = client.value
      reach.admin = await client.value.getCurrentUser()
    } else {
      notes.push(`The admin key could not be read (${admin.problem}), so the feed, warninglist and canary checks cannot run. If setup installed MISP on another host, run verify with --misp-host.`)
    }

    return pass(`MISP ${version.version} answers at ${url}; TLS verified against ${ca.value.file} (valid until ${new Date(expires).toISOString().slice(0, 10)}).`, notes)
  } catch (error) {
    if (error instanceof MispAuthError || error instanceof MispForbiddenError) {
      reach.reachable = true
      notes.push(`MISP rejected the ${admin.value ? 'admin' : 'Wazuh'} key for servers/getVersion: ${error.message}`)
      return pass(`MISP answers at ${url} over TLS verified against ${ca.value.file}; its version is unknown because the key was rejected.`, notes)
    }

    return describeMispFailure(error, url, ca.value.file)
  }
}

/** Turns a MISP client error into a failed hop with the fix for that kind of failure. */
export function describeMispFailure(error: unknown, url: string, caFile: string): HopOutcome {
  if (error instanceof MispTlsError) {
    return fail(`${error.message}`, `Make ${caFile} hold the CA certificate that signed MISP's server certificate (for a mispwazuh-installed MISP: ${SETUP_AGAIN.toLowerCase()}).`)
  }

  if (error instanceof MispConnectionError) {
    return fail(`MISP does not answer at ${url}: ${error.message}`, `Start MISP (for misp-docker: \`docker compose up -d\` in its directory) and check that this machine and the manager reach ${url} (firewall, BASE_URL, port).`)
  }

  if (error instanceof MispHtmlResponseError) {
    return fail(`${url} answered with an HTML page, not MISP's API: ${error.excerpt}`, error.fix ?? 'Check that the URL points at MISP itself.')
  }

  if (error instanceof MispError) return fail(error.message, error.fix ?? 'Read the MISP error log (app/tmp/logs/error.log).')
  throw error
}

/**
 * Checks the Wazuh key of the integration config: MISP accepts it, it belongs to the dedicated
 * Wazuh user and not to the admin, and it may search attributes.
 */
export async function checkWazuhKey(facts: VerifyFacts, reach: MispReach): Promise<HopOutcome> {
  if (!reach.reachable) return skip('Skipped: MISP is not reachable (see misp.reachable).')

  const config = await facts.integrationConfig()
  if (!config.value) return fail(`The integration has no key to check: ${config.problem}.`, SETUP_AGAIN)
  const key = config.value.values.api_key
  const where = `api_key in ${config.value.path}`
  if (typeof key !== 'string' || key === '') return fail(`${where} is missing.`, SETUP_AGAIN)

  const client = await facts.client(key)
  if (!client.value) return fail(`${where} cannot be used: ${client.problem}.`, SETUP_AGAIN)

  const notes: string[] = [...(await looseSecretFiles(facts))]
  const keyFile = await facts.wazuhKeyFile()
  if (keyFile.value !== undefined && keyFile.value !== key) notes.push(`${where} differs from the key in the Wazuh key file; the integration uses the one in its config.`)

  let me: MispCurrentUser
  try {
    me = await client.value.getCurrentUser()
  } catch (error) {
    if (error instanceof MispAuthError) {
      return fail(`MISP rejects ${where} (users/view/me): ${error.message}`, `Create a new key for the Wazuh user: ${SETUP_AGAIN} It replaces the key in the Wazuh key file and in ${config.value.path}.`, notes)
    }

    throw error
  }

  const credentials = await facts.credentials()
  const admin = await facts.adminKey()
  const expectedUser = credentials.value?.wazuhUser
  const isAdminKey = admin.value !== undefined && admin.value === key
  const isAdminUser = reach.admin !== undefined && reach.admin.User.id === me.User.id
  const isSiteAdmin = me.Role.perm_site_admin === true || me.Role.perm_admin === true
  if (isAdminKey || isAdminUser || isSiteAdmin) {
    let reason = `belongs to ${me.User.email}, whose role ${me.Role.name} has admin rights`
    if (isAdminKey) reason = 'is the MISP admin key'
    else if (isAdminUser) reason = `belongs to the admin user ${me.User.email}`
    return fail(
      `${where} ${reason}. A key with admin rights on every Wazuh manager is a risk, and misp-docker resets the admin's keys at every start.`,
      `Give the integration the dedicated Wazuh user's key: ${SETUP_AGAIN} It writes that key into ${config.value.path}.`,
      notes,
    )
  }

  if (expectedUser && me.User.email.toLowerCase() !== expectedUser.toLowerCase()) {
    return fail(`${where} belongs to ${me.User.email}, not to the dedicated Wazuh user ${expectedUser}.`, `Give the integration ${expectedUser}'s key: ${SETUP_AGAIN}`, notes)
  }

  try {
    await client.value.searchAttributes({value: 'mispwazuh-verify-probe.invalid', type: 'domain', to_ids: 1, limit: 1, page: 1})
  } catch (error) {
    if (error instanceof MispAuthError || error instanceof MispForbiddenError) {
      return fail(`${me.User.email} may not search attributes (attributes/restSearch): ${error.message}`, `Give ${me.User.email} a role with API access (perm_auth) in MISP (Administration > List Users), or ${SETUP_AGAIN.toLowerCase()}`, notes)
    }

    throw error
  }

  if (me.User.disabled) return fail(`${me.User.email} is disabled in MISP.`, `Enable ${me.User.email} in MISP (Administration > List Users).`, notes)
  return pass(`${where} belongs to ${me.User.email} (role ${me.Role.name}, not an admin) and can search attributes.`, notes)
}

/** Reports how many feeds are enabled, cached and fetched, and when the refresh job last ran. */
export async function checkFeeds(context: VerifyContext, facts: VerifyFacts, reach: MispReach): Promise<HopOutcome> {
  if (!reach.reachable) return skip('Skipped: MISP is not reachable (see misp.reachable).')
  if (!reach.adminClient) return skip('Skipped: the admin key could not be read or was rejected, and listing feeds needs it.')

  const feeds = await reach.adminClient.listFeeds()
  const enabled = feeds.filter((feed) => feed.enabled)
  const cachedTimes = enabled.map((feed) => cacheTime(feed.cache_timestamp)).filter((time): time is number => time !== undefined)
  const fetched = enabled.filter((feed) => typeof feed.event_id === 'string' && feed.event_id !== '0' && feed.event_id !== '')
  const refresh = await lastRefresh(context)

  const parts = [`${enabled.length} of ${feeds.length} feeds enabled`, `${cachedTimes.length} cached${cachedTimes.length > 0 ? ` (latest ${isoSeconds(Math.max(...cachedTimes))})` : ''}`, `${fetched.length} with a fetched feed event`]
  if (refresh) parts.push(`refresh job last ran ${refresh}`)
  const found = `${parts.join(', ')}.`

  if (enabled.length === 0) {
    return fail(`${found} With no feed enabled, MISP holds only the events people add by hand.`, `Enable feeds: ${SETUP_AGAIN} It enables MISP's default feeds with caching (or enable them in MISP under Sync Actions > Feeds).`)
  }

  if (cachedTimes.length === 0 && fetched.length === 0 && !refresh) {
    return fail(`${found} No enabled feed has been fetched or cached yet.`, 'Run /usr/local/sbin/mispwazuh-misp-refresh on the MISP host (it fetches and caches every enabled feed), then check MISP > Administration > Jobs.')
  }

  return pass(found)
}

/** Reports how many warninglists are enabled, because restSearch with enforceWarninglist uses only those. */
export async function checkWarninglists(reach: MispReach): Promise<HopOutcome> {
  if (!reach.reachable) return skip('Skipped: MISP is not reachable (see misp.reachable).')
  if (!reach.adminClient) return skip('Skipped: the admin key could not be read or was rejected, and listing warninglists needs it.')

  const lists = await reach.adminClient.listWarninglists()
  const enabled = lists.filter((list) => list.enabled)
  const found = `${enabled.length} of ${lists.length} warninglists enabled.`
  if (lists.length === 0) return fail(`${found} MISP has no warninglists loaded, so well-known addresses and domains raise alerts.`, `Load and enable them: ${SETUP_AGAIN}`)
  if (enabled.length === 0) return fail(`${found} Disabled warninglists filter nothing, so well-known addresses and domains raise alerts.`, `Enable them: ${SETUP_AGAIN} (or in MISP under Input Filters > Warninglists).`)
  return pass(found)
}

function cacheTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value) || value === '0') return undefined
  return Number(value)
}

function isoSeconds(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Returns the time stamp of the refresh job's last log line as "at 2026-12-04T03:17:02Z", or undefined. */
async function lastRefresh(context: VerifyContext): Promise<string | undefined> {
  const file = '/var/log/mispwazuh/misp-refresh.log'
  if (!(await context.mispTarget.exists(file))) return undefined
  const result = await context.mispTarget.exec(['tail', '-n', '1', file], {allowExitCodes: 'any'})
  const stamp = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)/.exec(result.stdout.trim())?.[1]
  return stamp ? `at ${stamp}` : undefined
}

/** Notes for secret files that others than root may read; setup writes them root:root 0600. */
async function looseSecretFiles(facts: VerifyFacts): Promise<string[]> {
  const credentials = await facts.credentials()
  const files = credentials.value ? [credentials.value.file, credentials.value.adminKeyFile, credentials.value.wazuhKeyFile] : []
  const notes: string[] = []
  for (const file of files) {
    const stat = await facts.mispFileStat(file)
    if (stat && ((stat.mode & 0o077) !== 0 || stat.owner !== 'root')) notes.push(`${file} holds a secret but is ${stat.owner}:${stat.group} ${octal(stat.mode)}; make it root-only: chown root:root ${file} && chmod 0600 ${file}.`)
  }

  return notes
}
