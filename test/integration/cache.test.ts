/**
 * The lookup cache: hits and misses served without HTTP, expiry per TTL, the row bound, and
 * concurrent runs.
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {startQueueListener, type QueueListener} from '../support/queue-listener.js'
import {createWorkspace, loadAlert, payloadOf, python, restSearchBodies, runIntegration, withField, type Workspace} from './harness.js'

let misp: MispDouble
let queue: QueueListener
let workspace: Workspace

const dnsQuery = loadAlert('sysmon-eid22-dns-query.alert.json')
const fileAdded = loadAlert('docs-syscheck-554-file-added.alert.json')

beforeAll(async () => {
  misp = await startMispDouble()
  queue = await startQueueListener()
})

afterAll(async () => {
  await queue.stop()
  await misp.stop()
})

beforeEach(() => {
  queue.clear()
  misp.requests.length = 0
  misp.faults.clear()
  for (const id of [...misp.store.events.keys()]) misp.store.deleteEvent(id)
  workspace = createWorkspace({mispUrl: misp.url, apiKey: misp.adminKey, caFile: misp.caFile, queueSocket: queue.path})
})

afterEach(() => {
  workspace.cleanup()
})

function cacheRows(): {kind: string; value: string; attributes: string}[] {
  const database = path.join(workspace.cacheDirectory, 'cache.sqlite3')
  const output = execFileSync(python, ['-c', [
    'import json, sqlite3, sys',
    'rows = sqlite3.connect(sys.argv[1]).execute("SELECT kind, value, attributes FROM lookups ORDER BY value").fetchall()',
    'print(json.dumps([dict(kind=k, value=v, attributes=a) for k, v, a in rows]))',
  ].join('\n'), database], {encoding: 'utf8'})
  return JSON.parse(output) as {kind: string; value: string; attributes: string}[]
}

function journalMode(): string {
  const database = path.join(workspace.cacheDirectory, 'cache.sqlite3')
  return execFileSync(python, ['-c', 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode").fetchone()[0])', database], {encoding: 'utf8'}).trim()
}

/** Build a FIM alert for a file with well-formed fake hashes derived from `seed`. */
function fileAlert(seed: number): Record<string, unknown> {
  const hex = (length: number) => seed.toString(16).padStart(4, '0').repeat(length / 4)
  let alert = withField(fileAdded, 'syscheck.md5_after', hex(32))
  alert = withField(alert, 'syscheck.sha1_after', hex(40))
  alert = withField(alert, 'syscheck.sha256_after', hex(64))
  return alert
}

describe('cache', () => {
  test('serves hits and misses without HTTP', async () => {
    misp.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})

    const cold = await runIntegration(workspace, dnsQuery)
    const warm = await runIntegration(workspace, dnsQuery)

    expect(restSearchBodies(misp.requests)).toHaveLength(1)
    expect(cold.log.some((line) => line.includes('0 of 4 values cached'))).toBe(true)
    expect(warm.log.some((line) => line.includes('4 of 4 values cached'))).toBe(true)
    const messages = await queue.waitForMessages(2)
    expect(messages.map((message) => payloadOf(message).misp.value)).toEqual(['akamaized.net', 'akamaized.net'])
    expect(payloadOf(messages[1] as {payload: string}).misp).toEqual(payloadOf(messages[0] as {payload: string}).misp)

    const rows = cacheRows()
    expect(rows.map((row) => `${row.kind}:${row.value}`)).toEqual([
      'ip:181.30.131.40', 'ip:181.30.131.42', 'domain:akamaized.net', 'domain:img-s-msn-com.akamaized.net',
    ])
    expect(rows.filter((row) => row.attributes !== '[]').map((row) => row.value)).toEqual(['akamaized.net'])
  })

  test('looks up only the values not cached', async () => {
    await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'one.cache-harness.example'}))
    await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'two.cache-harness.example'}))

    const bodies = restSearchBodies(misp.requests)
    expect(bodies.map((body) => body.value)).toEqual([
      ['cache-harness.example', 'one.cache-harness.example'],
      ['two.cache-harness.example'],
    ])
  })

  test('expires misses after cache_miss_ttl', async () => {
    // Two seconds, so that the first two runs fit in it on a busy machine.
    workspace.configure({cache_miss_ttl: 2})

    await runIntegration(workspace, dnsQuery)
    await runIntegration(workspace, dnsQuery)
    expect(restSearchBodies(misp.requests)).toHaveLength(1)

    misp.store.addEvent({info: 'added later', Attribute: [{type: 'ip-dst', value: '181.30.131.42'}]})
    await new Promise((resolve) => setTimeout(resolve, 2100))
    await runIntegration(workspace, dnsQuery)

    expect(restSearchBodies(misp.requests)).toHaveLength(2)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.value).toBe('181.30.131.42')
  })

  test('expires hits after cache_hit_ttl', async () => {
    misp.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})
    workspace.configure({cache_hit_ttl: 1, cache_miss_ttl: 3600})

    await runIntegration(workspace, dnsQuery)
    for (const id of [...misp.store.events.keys()]) misp.store.deleteEvent(id)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const result = await runIntegration(workspace, dnsQuery)

    expect(result.log.some((line) => line.includes('3 of 4 values cached'))).toBe(true)
    expect(restSearchBodies(misp.requests)[1]?.value).toEqual(['akamaized.net'])
    await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(1)
  })

  test('keeps at most cache_max_rows rows', async () => {
    workspace.configure({cache_max_rows: 4})

    for (const seed of [1, 2, 3, 4]) await runIntegration(workspace, fileAlert(seed))

    const rows = cacheRows()
    expect(rows.length).toBeLessThanOrEqual(4)
    expect(rows.map((row) => row.value)).toContain('0004'.repeat(16))
    expect(rows.map((row) => row.value)).not.toContain('0001'.repeat(16))
  })

  test('is shared safely by runs at once', async () => {
    const seeds = [11, 12, 13, 14, 15, 16]
    const results = await Promise.all(seeds.map((seed) => runIntegration(workspace, fileAlert(seed))))

    for (const result of results) {
      expect(result.exitCode).toBe(0)
      expect(result.stderr).toBe('')
      expect(result.log.join('\n')).not.toMatch(/cache .*(failed|unavailable)|locked/)
    }
    expect(cacheRows()).toHaveLength(seeds.length * 3)
    expect(journalMode()).toBe('wal')

    misp.requests.length = 0
    await Promise.all(seeds.map((seed) => runIntegration(workspace, fileAlert(seed))))
    expect(misp.requests).toHaveLength(0)
  })

  test('works without a usable cache file', async () => {
    fs.mkdirSync(workspace.cacheDirectory, {recursive: true})
    fs.writeFileSync(path.join(workspace.cacheDirectory, 'cache.sqlite3'), 'not a database, just text'.repeat(100))
    misp.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    expect(result.log.some((line) => line.includes('ERROR') && line.includes('cache') && line.includes('without it'))).toBe(true)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.value).toBe('akamaized.net')
  })

  test('can be turned off', async () => {
    workspace.configure({cache_enabled: false})

    await runIntegration(workspace, dnsQuery)
    await runIntegration(workspace, dnsQuery)

    expect(restSearchBodies(misp.requests)).toHaveLength(2)
    expect(fs.existsSync(workspace.cacheDirectory)).toBe(false)
  })
})
