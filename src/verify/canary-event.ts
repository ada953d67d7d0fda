import {randomBytes} from 'node:crypto'

import type {MispClient} from '../misp/client.js'

/** The start of every canary event's info, which marks an event as a canary when an earlier run left it behind. */
export const CANARY_INFO_PREFIX = 'mispwazuh verify canary'

/** The tag on every canary event, so a left-over one is easy to find and delete in MISP. */
export const CANARY_TAG = 'mispwazuh:canary'

/**
 * The parent domain of every canary. `mispwazuh` is no top-level domain, so a canary never
 * resolves, and it is not one of the reserved names (example, invalid, test, local) that MISP
 * warninglists list and the integration skips.
 */
export const CANARY_PARENT = 'canary.mispwazuh'

export interface CanaryDomains {
  token: string
  selftest: string
  sysmon: string
}

/** Returns two new canary domains that share one random token. */
export function newCanaryDomains(): CanaryDomains {
  const token = randomBytes(6).toString('hex')
  return {token, selftest: `selftest-${token}.${CANARY_PARENT}`, sysmon: `sysmon-${token}.${CANARY_PARENT}`}
}

/**
 * Creates the canary event: distribution "your organisation only", tagged, with one to_ids
 * domain attribute per canary, then publishes it (MISP may publish in a background job).
 * Returns the event id.
 */
export async function createCanaryEvent(admin: MispClient, domains: CanaryDomains): Promise<string> {
  const comment = 'mispwazuh verify canary: deleted when verify ends'
  const attribute = (value: string) => ({type: 'domain', category: 'Network activity', value, to_ids: true, distribution: '5', comment})
  const body = {
    Event: {
      info: `${CANARY_INFO_PREFIX} ${domains.token}`,
      distribution: '0',
      threat_level_id: '4',
      analysis: '2',
      published: false,
      Tag: [{name: CANARY_TAG}],
      Attribute: [attribute(domains.selftest), attribute(domains.sysmon)],
    },
  }

  const created = (await admin.request('POST', '/events/add', body)).body as {Event?: {id?: string}}
  const id = created.Event?.id
  if (typeof id !== 'string' || !/^\d+$/.test(id)) throw new Error('MISP created the canary event but returned no event id')
  await admin.request('POST', `/events/publish/${id}`, {})
  return id
}

export async function deleteCanaryEvent(admin: MispClient, id: string): Promise<void> {
  await admin.request('POST', `/events/delete/${encodeURIComponent(id)}`, {})
}

/** Searches the canary domains as the integration does: domain attributes, to_ids, published, warninglists enforced. */
export async function findCanaries(client: MispClient, domains: readonly string[]): Promise<Set<string>> {
  const attributes = await client.searchAttributes({value: [...domains], type: 'domain', to_ids: 1, published: 1, enforceWarninglist: 1, deleted: 0, limit: 10, page: 1})
  return new Set(attributes.map((attribute) => attribute.value.toLowerCase()))
}

/**
 * Deletes canary events an earlier run left behind (a run killed before its cleanup). They are
 * found by a domain attribute under the canary parent and an event info with the canary prefix.
 * Returns the ids of the deleted events.
 */
export async function deleteLeftoverCanaries(admin: MispClient): Promise<string[]> {
  const attributes = await admin.searchAttributes({value: `%.${CANARY_PARENT}`, type: 'domain', deleted: 0, limit: 100, page: 1})
  const eventIds = new Set<string>()
  for (const attribute of attributes) {
    if (attribute.value.toLowerCase().endsWith(`.${CANARY_PARENT}`) && attribute.Event?.info.startsWith(CANARY_INFO_PREFIX)) eventIds.add(attribute.event_id)
  }

  for (const id of eventIds) await deleteCanaryEvent(admin, id)
  return [...eventIds]
}
