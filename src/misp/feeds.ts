import {MispwazuhError, ExitCode} from '../errors.js'
import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import type {MispClient, MispFeed} from './client.js'
import {DEFAULT_ENABLED_FEEDS} from './default-feeds.js'
import type {MispRunState} from './run-state.js'

/** One line of the per-feed report after the feeds step. */
export interface FeedStatus {
  id: string
  name: string
  enabled: boolean
  cachingEnabled: boolean
  /** Unix time of the last successful cache, or undefined when never cached. */
  cachedAt: string | undefined
}

/**
 * MISP's default feeds: load the bundled feed metadata, enable the chosen feeds with caching,
 * then fetch them into events and cache them. loadDefaultFeeds skips URLs MISP already has, and
 * only feeds not yet enabled are edited, so a second run changes nothing.
 */
export function mispFeedsStep(state: MispRunState): Step {
  const wantedNames = state.options.feeds ?? [...DEFAULT_ENABLED_FEEDS]

  return {
    id: 'misp.feeds',
    title: 'MISP feeds enabled, fetched and cached',

    async check(context: StepContext): Promise<StepCheck> {
      const client = await state.adminClient(context)
      const feeds = client ? await listFeedsIfUp(client) : undefined
      if (feeds === undefined) {
        return {status: 'change', reason: 'MISP is not running yet', changes: plannedChanges(wantedNames, wantedNames.length, true)}
      }

      const byName = new Map(feeds.map((feed) => [feed.name, feed]))
      const missing = wantedNames.filter((name) => !byName.has(name))
      const pending = wantedNames.filter((name) => {
        const feed = byName.get(name)
        return feed !== undefined && !(feed.enabled && feed.caching_enabled)
      })

      if (missing.length === 0 && pending.length === 0) return {status: 'ok', reason: `${wantedNames.length} feeds are enabled with caching`, changes: []}
      return {
        status: 'change',
        reason: missing.length > 0 ? `${missing.length} of the chosen feeds are not in MISP yet` : `${pending.length} of the chosen feeds are not enabled with caching`,
        changes: plannedChanges(wantedNames, missing.length + pending.length, missing.length > 0),
      }
    },

    async apply(context: StepContext): Promise<void> {
      const client = await state.requireAdminClient(context)
      let feeds = await client.listFeeds()

      if (wantedNames.some((name) => !feeds.some((feed) => feed.name === name))) {
        context.progress('loading MISP\'s default feed metadata')
        await client.loadDefaultFeeds()
        feeds = await client.listFeeds()
      }

      const byName = new Map(feeds.map((feed) => [feed.name, feed]))
      const unknown = wantedNames.filter((name) => !byName.has(name))
      if (unknown.length > 0) {
        throw new MispwazuhError(`MISP has no feed named ${unknown.map((name) => `"${name}"`).join(', ')}.`, {
          code: 'misp_feed_unknown',
          exitCode: ExitCode.invalidInput,
          fix: `Use names from MISP's feed list (Sync Actions > Feeds), e.g. "${feeds[0]?.name ?? 'CIRCL OSINT Feed'}", in --misp-feeds.`,
        })
      }

      for (const name of wantedNames) {
        const feed = byName.get(name)!
        if (feed.enabled && feed.caching_enabled) continue
        context.progress(`enabling feed ${feed.id} ${name}`)
        await client.editFeed(feed.id, {enabled: true, caching_enabled: true})
      }

      context.progress('fetching all enabled feeds')
      const fetched = await client.fetchFromAllFeeds()
      context.log.info(`feeds/fetchFromAllFeeds: ${fetched.result}`)

      context.progress('caching all enabled feeds')
      const cached = await client.cacheFeeds('all')
      context.log.info(`feeds/cacheFeeds/all: ${cached.message}`)
      if (!cached.ok) context.log.warn(`Some feeds could not be cached; MISP's daily "Feed cache all" task and the refresh job retry them. ${cached.message}`)

      const statuses = await feedStatuses(client, wantedNames)
      for (const status of statuses) {
        context.log.info(`feed ${status.id} "${status.name}": ${status.enabled ? 'enabled' : 'DISABLED'}, caching ${status.cachingEnabled ? 'on' : 'off'}, ${status.cachedAt ? `cached at ${new Date(Number(status.cachedAt) * 1000).toISOString()}` : 'not cached yet'}`)
      }

      const notCached = statuses.filter((status) => !status.cachedAt)
      context.progress(`${statuses.length} feeds enabled with caching, ${statuses.length - notCached.length} cached`)
      if (notCached.length > 0) {
        // With background jobs (misp-docker's default) caching finishes after this call, so "not cached yet" is normal on a first run.
        context.log.warn(`${notCached.length} feeds are not cached yet: ${notCached.map((status) => status.name).join(', ')}`)
      }
    },
  }
}

/** Returns the state of the named feeds, in the given order. */
export async function feedStatuses(client: MispClient, names: readonly string[]): Promise<FeedStatus[]> {
  const feeds = await client.listFeeds()
  const byName = new Map(feeds.map((feed) => [feed.name, feed]))
  return names.flatMap((name) => {
    const feed = byName.get(name)
    if (!feed) return []
    const cached = feed.cache_timestamp
    return [{id: feed.id, name, enabled: feed.enabled, cachingEnabled: feed.caching_enabled, cachedAt: typeof cached === 'string' && cached !== '0' && cached !== '' ? cached : undefined}]
  })
}

async function listFeedsIfUp(client: MispClient): Promise<MispFeed[] | undefined> {
  try {
    return await client.listFeeds()
  } catch {
    return undefined
  }
}

function plannedChanges(names: readonly string[], pending: number, load: boolean): Change[] {
  const changes: Change[] = []
  if (load) changes.push({kind: 'command', summary: 'load MISP\'s default feed metadata (POST /feeds/loadDefaultFeeds)'})
  changes.push(
    {kind: 'command', summary: `enable ${pending} of ${names.length} chosen feeds with caching (POST /feeds/edit/{id})`},
    {kind: 'command', summary: 'fetch and cache all enabled feeds (POST /feeds/fetchFromAllFeeds, /feeds/cacheFeeds/all)'},
  )
  return changes
}
