/**
 * The feed endpoints: index, loadDefaultFeeds, edit, enable/disable, fetchFromFeed,
 * fetchFromAllFeeds and cacheFeeds. A fresh double contains the two feeds MISP's schema seeds
 * (disabled); loadDefaultFeeds adds the recorded 84-feed list, skipping URLs already present.
 * Feeds cannot be downloaded here, so fetching and caching succeed unless a test lists the feed in
 * `failingFeedIds`; in sync mode a failed cache then answers MISP's 302 with an empty body.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {errorResponse, jsonResponse, phpCompactJson, prettyJson, saveSuccessResponse, unwrapModel, type Route, type RouteResponse} from '../route.js'
import type {MispStore} from '../store.js'

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const recorded = path.join(repositoryRoot, 'test/fixtures/misp-recorded')

type FeedItem = {Feed: Record<string, unknown>; Tag?: Record<string, unknown>}

function readItems(file: string): FeedItem[] {
  return JSON.parse(fs.readFileSync(path.join(recorded, file), 'utf8')) as FeedItem[]
}

/** Feed state of one MispStore. */
export class FeedState {
  readonly feeds = new Map<string, FeedItem>()
  /** Feed ids whose fetch and cache fail, as an unreachable feed does. */
  readonly failingFeedIds = new Set<string>()
  /** How often each action ran, for tests. */
  readonly calls = {loadDefaultFeeds: 0, fetchFromAllFeeds: 0, fetchFromFeed: 0, cacheFeeds: 0, edit: 0}
  /** Unix time of the last fetch per feed id. */
  readonly fetchedAt = new Map<string, string>()

  constructor() {
    for (const item of readItems('feeds_index_before_loadDefaultFeeds.json')) this.feeds.set(String(item.Feed.id), structuredClone(item))
  }

  /** Adds the recorded default feeds whose URL is not present yet, with ids after the highest one. */
  loadDefaults(): void {
    const urls = new Set([...this.feeds.values()].map((item) => item.Feed.url))
    let nextId = Math.max(0, ...[...this.feeds.keys()].map(Number))
    for (const item of readItems('feeds_index.json')) {
      if (urls.has(item.Feed.url)) continue
      nextId += 1
      const copy = structuredClone(item)
      copy.Feed.id = String(nextId)
      copy.Feed.enabled = false
      copy.Feed.caching_enabled = false
      copy.Feed.cache_timestamp = false
      this.feeds.set(copy.Feed.id as string, copy)
    }
  }

  byId(id: string): FeedItem | undefined {
    return /^\d+$/.test(id) ? this.feeds.get(id) : undefined
  }
}

const states = new WeakMap<MispStore, FeedState>()

/** Returns the feed state of a store, created on first use. */
export function feedStateOf(store: MispStore): FeedState {
  let state = states.get(store)
  if (!state) {
    state = new FeedState()
    states.set(store, state)
  }

  return state
}

function toggle(enabled: boolean): Route['handle'] {
  return (request, store) => {
    const feed = feedStateOf(store).byId(request.params.id ?? '')
    const url = `/feeds/${enabled ? 'enable' : 'disable'}/${request.params.id}`
    // MISP raises MethodNotAllowedException for an unknown or non-numeric feed id here.
    if (!feed) return errorResponse(405, 'Invalid Feed.', url)
    feed.Feed.enabled = enabled
    const message = enabled ? 'Feed enabled.' : 'Feed disabled.'
    return jsonResponse(200, phpCompactJson({name: message, message, url}))
  }
}

function fetchOne(state: FeedState, store: MispStore, id: string): string {
  const feed = state.byId(id)!
  if (feed.Feed.enabled !== true) return 'Feed is currently not enabled. Make sure you enable it.'
  if (store.backgroundJobs) return 'Pull queued for background execution.'
  if (state.failingFeedIds.has(id)) return 'Fetching the feed has failed.'
  state.fetchedAt.set(id, String(store.now()))
  return 'Fetching the feed has successfully completed. Downloaded 0 new event(s).'
}

function cacheScope(request: {params: Record<string, string>}, store: MispStore): RouteResponse {
  const state = feedStateOf(store)
  state.calls.cacheFeeds += 1
  const scope = request.params.scope ?? 'freetext'
  const inScope = [...state.feeds.values()].filter((item) => {
    if (item.Feed.caching_enabled !== true) return false
    if (scope === 'all') return true
    if (/^\d+$/.test(scope)) return item.Feed.id === scope
    return item.Feed.source_format === scope
  })

  if (store.backgroundJobs) {
    for (const item of inScope) if (!state.failingFeedIds.has(String(item.Feed.id))) item.Feed.cache_timestamp = String(store.now())
    return saveSuccessResponse('Feed caching job initiated.', '/feeds/cacheFeed')
  }

  let failed = false
  for (const item of inScope) {
    if (state.failingFeedIds.has(String(item.Feed.id))) failed = true
    else item.Feed.cache_timestamp = String(store.now())
  }

  // Sync mode: MISP flashes an error and redirects to the feed index, with an empty body.
  if (failed) return {status: 302, text: '', contentType: 'application/json; charset=UTF-8', headers: {Location: '/feeds'}}
  return saveSuccessResponse('Caching the feeds has successfully completed.', '/feeds/cacheFeed')
}

export const feedRoutes: readonly Route[] = [
  ...['/feeds', '/feeds/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    permission: 'perm_site_admin',
    handle: (_request, store) => jsonResponse(200, prettyJson([...feedStateOf(store).feeds.values()])),
  })),
  {
    method: 'POST',
    pattern: '/feeds/loadDefaultFeeds',
    permission: 'perm_site_admin',
    handle(_request, store) {
      const state = feedStateOf(store)
      state.calls.loadDefaultFeeds += 1
      state.loadDefaults()
      return saveSuccessResponse('Default feed metadata loaded.', '/feeds/loadDefaultFeeds')
    },
  },
  {
    method: ['POST', 'PUT'],
    pattern: '/feeds/edit/:id',
    permission: 'perm_site_admin',
    handle(request, store) {
      const state = feedStateOf(store)
      const feed = state.byId(request.params.id ?? '')
      if (!feed) return errorResponse(404, 'Invalid feed.', `/feeds/edit/${request.params.id}`)
      state.calls.edit += 1
      const fields = unwrapModel(request.body, 'Feed')
      for (const name of ['enabled', 'caching_enabled', 'lookup_visible', 'publish', 'override_ids', 'delta_merge', 'fixed_event']) {
        if (name in fields) feed.Feed[name] = fields[name] === true || fields[name] === 1 || fields[name] === '1'
      }

      for (const name of ['name', 'provider', 'url', 'distribution', 'source_format']) {
        if (name in fields) feed.Feed[name] = String(fields[name])
      }

      // The edit response carries the saved row, which has no cache_timestamp (the index adds it from Redis).
      const {cache_timestamp: _cacheTimestamp, ...saved} = feed.Feed
      return jsonResponse(200, prettyJson({Feed: saved}))
    },
  },
  {method: ['GET', 'POST'], pattern: '/feeds/enable/:id', permission: 'perm_site_admin', handle: toggle(true)},
  {method: ['GET', 'POST'], pattern: '/feeds/disable/:id', permission: 'perm_site_admin', handle: toggle(false)},
  {
    method: ['GET', 'POST'],
    pattern: '/feeds/fetchFromFeed/:id',
    permission: 'perm_site_admin',
    handle(request, store) {
      const state = feedStateOf(store)
      state.calls.fetchFromFeed += 1
      const id = request.params.id ?? ''
      if (!state.byId(id)) return errorResponse(404, 'Invalid feed.', `/feeds/fetchFromFeed/${id}`)
      return jsonResponse(200, prettyJson({result: fetchOne(state, store, id)}))
    },
  },
  {
    method: ['GET', 'POST'],
    pattern: '/feeds/fetchFromAllFeeds',
    permission: 'perm_site_admin',
    handle(_request, store) {
      const state = feedStateOf(store)
      state.calls.fetchFromAllFeeds += 1
      const enabled = [...state.feeds.values()].filter((item) => item.Feed.enabled === true)
      if (enabled.length === 0) return jsonResponse(200, prettyJson({result: 'No feed enabled.'}))
      for (const item of enabled) if (!state.failingFeedIds.has(String(item.Feed.id))) state.fetchedAt.set(String(item.Feed.id), String(store.now()))
      // NOTE: only the background-jobs response of this action was recorded, so the double sends it in sync mode too.
      return jsonResponse(200, prettyJson({result: 'Pull queued for background execution.'}))
    },
  },
  {method: ['GET', 'POST'], pattern: '/feeds/cacheFeeds', permission: 'perm_site_admin', handle: (request, store) => cacheScope(request, store)},
  {method: ['GET', 'POST'], pattern: '/feeds/cacheFeeds/:scope', permission: 'perm_site_admin', handle: (request, store) => cacheScope(request, store)},
]
