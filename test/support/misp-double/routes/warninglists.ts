/**
 * Warninglist endpoints: warninglists/index, warninglists/toggleEnable and warninglists/update.
 * update loads a small built-in set of lists (disabled, as MISP adds new lists) when the store has
 * none; toggleEnable reports its failures with HTTP 200 and `saved: false`, as MISP does.
 */
import {flag, filterValues, jsonResponse, prettyJson, saveSuccessResponse, type Route} from '../route.js'
import type {MispStore, Warninglist} from '../store.js'

/** Lists `warninglists/update` loads into an empty store, each a real MISP warninglist name. */
const bundledLists: Array<{name: string; type: Warninglist['type']; entries: string[]}> = [
  {name: 'List of known IPv4 public DNS resolvers', type: 'cidr', entries: ['8.8.8.8/32', '8.8.4.4/32', '1.1.1.1/32', '9.9.9.9/32']},
  {name: 'List of RFC 1918 CIDR blocks', type: 'cidr', entries: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']},
  {name: 'Top 1000 website from Alexa', type: 'hostname', entries: ['google.com', 'microsoft.com', 'wikipedia.org']},
]

/** Adds the built-in lists the store lacks, disabled; returns how many were added. */
export function loadBundledWarninglists(store: MispStore): number {
  let added = 0
  for (const list of bundledLists) {
    if ([...store.warninglists.values()].some((existing) => existing.name === list.name)) continue
    store.addWarninglist({...list, enabled: false})
    added += 1
  }

  return added
}

function listShape(list: Warninglist): Record<string, unknown> {
  return {
    id: list.id,
    name: list.name,
    type: list.type,
    description: `Event contains one or more entries from ${list.name}.`,
    version: '1',
    enabled: list.enabled,
    default: true,
    category: 'false_positive',
    warninglist_entry_count: String(list.entries.length),
    valid_attributes: list.type === 'cidr' ? 'ip-src, ip-dst, domain|ip' : 'hostname, domain, url',
  }
}

function toggleEnable(body: unknown, store: MispStore) {
  const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const ids = new Set(filterValues(input.id))
  const names = new Set(filterValues(input.name))
  const enable = flag(input.enabled) ?? false
  const matched = [...store.warninglists.values()].filter((list) => ids.has(list.id) || names.has(list.name))
  if (matched.length === 0) return jsonResponse(200, prettyJson({saved: false, errors: 'Warninglist(s) not found.'}))

  for (const list of matched) list.enabled = enable
  return jsonResponse(200, prettyJson({saved: true, success: `${matched.length} warninglist(s) ${enable ? 'enabled' : 'disabled'}`}))
}

export const warninglistRoutes: readonly Route[] = [
  ...['/warninglists', '/warninglists/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    handle: (_request, store) => jsonResponse(200, prettyJson({Warninglists: [...store.warninglists.values()].map((list) => ({Warninglist: listShape(list)}))})),
  })),
  {method: 'POST', pattern: '/warninglists/toggleEnable', permission: 'perm_warninglist', handle: (request, store) => toggleEnable(request.body, store)},
  {
    method: 'POST',
    pattern: '/warninglists/update',
    permission: 'perm_site_admin',
    handle(_request, store) {
      const added = loadBundledWarninglists(store)
      return saveSuccessResponse(`Successfully updated ${added} warninglists.`, '/warninglists/update')
    },
  },
]
