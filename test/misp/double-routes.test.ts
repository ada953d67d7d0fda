/**
 * The MISP double's feed, auth key, user and warninglist routes against the responses recorded
 * from MISP 2.5.1: the same status codes, the same bodies where they are deterministic, and the
 * same field names where ids and times differ.
 */
import fs from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'

const recorded = path.resolve('test/fixtures/misp-recorded')
let misp: MispDouble

interface RawResponse {
  status: number
  contentType: string
  location: string | undefined
  text: string
}

function recording(name: string): string {
  return fs.readFileSync(path.join(recorded, `${name}.json`), 'utf8')
}

function send(method: string, requestPath: string, body?: unknown, key = misp.adminKey): Promise<RawResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const request = https.request(`${misp.url}${requestPath}`, {
      method,
      ca: misp.tls.ca.certPem,
      headers: {Authorization: key, Accept: 'application/json', 'Content-Type': 'application/json'},
    }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({
        status: response.statusCode ?? 0,
        contentType: String(response.headers['content-type'] ?? ''),
        location: response.headers.location,
        text: Buffer.concat(chunks).toString('utf8'),
      }))
    })
    request.on('error', reject)
    request.end(payload)
  })
}

function keysOf(text: string, model: string): string[] {
  return Object.keys((JSON.parse(text) as Record<string, Record<string, unknown>>)[model]!)
}

beforeAll(async () => {
  misp = await startMispDouble()
})

afterAll(async () => {
  await misp.stop()
})

describe('double feed routes', () => {
  it('index before loading matches the recording', async () => {
    const response = await send('GET', '/feeds/index')
    expect(response.status).toBe(200)
    expect(JSON.parse(response.text)).toEqual(JSON.parse(recording('feeds_index_before_loadDefaultFeeds')))
  })

  it('loadDefaultFeeds body matches the recording', async () => {
    const response = await send('POST', '/feeds/loadDefaultFeeds')
    expect(response.status).toBe(200)
    expect(response.text).toBe(recording('feeds_loadDefaultFeeds'))
  })

  it('index after loading matches the recording', async () => {
    const response = await send('GET', '/feeds/index')
    expect(JSON.parse(response.text)).toEqual(JSON.parse(recording('feeds_index')))
  })

  it('enable and disable bodies match the recordings', async () => {
    const enabled = await send('POST', '/feeds/enable/84')
    expect(enabled.status).toBe(200)
    expect(enabled.text).toBe(recording('feeds_enable').replace('85', '84'))
    const disabled = await send('POST', '/feeds/disable/84')
    expect(disabled.text).toBe(recording('feeds_disable').replace('85', '84'))
  })

  it('unknown feed id is 405 as recorded', async () => {
    const response = await send('POST', '/feeds/enable/99999')
    expect(response.status).toBe(405)
    expect(response.text).toBe(recording('feeds_enable_invalid'))
  })

  it('edit returns the recorded fields', async () => {
    const response = await send('POST', '/feeds/edit/84', {Feed: {enabled: true, caching_enabled: true}})
    const feed = (JSON.parse(response.text) as {Feed: Record<string, unknown>}).Feed
    expect(response.status).toBe(200)
    expect(keysOf(response.text, 'Feed')).toEqual(keysOf(recording('feeds_edit_enable_caching'), 'Feed'))
    expect(feed.id).toBe('84')
    expect(feed.enabled).toBe(true)
    expect(feed.caching_enabled).toBe(true)
  })

  it('cacheFeeds all matches the recording', async () => {
    const response = await send('POST', '/feeds/cacheFeeds/all')
    expect(response.status).toBe(200)
    expect(response.text).toBe(recording('feeds_cacheFeeds_all'))
  })

  it('failed sync cacheFeeds is a 302 without body', async () => {
    feedStateOf(misp.store).failingFeedIds.add('84')
    try {
      const response = await send('POST', '/feeds/cacheFeeds/84')
      expect(response.status).toBe(302)
      expect(response.text).toBe('')
      expect(response.location).toMatch(/\/feeds$/)
    } finally {
      feedStateOf(misp.store).failingFeedIds.delete('84')
    }
  })

  it('failed sync fetch is 200 as recorded', async () => {
    feedStateOf(misp.store).failingFeedIds.add('84')
    try {
      const response = await send('POST', '/feeds/fetchFromFeed/84')
      expect(response.status).toBe(200)
      expect(response.text).toBe(recording('feeds_fetchFromFeed_offline'))
    } finally {
      feedStateOf(misp.store).failingFeedIds.delete('84')
    }
  })

  it('background jobs answer as recorded', async () => {
    misp.store.backgroundJobs = true
    try {
      expect((await send('POST', '/feeds/cacheFeeds/all')).text).toBe(recording('bg_feeds_cacheFeeds_all'))
      expect((await send('POST', '/feeds/fetchFromAllFeeds')).text).toBe(recording('bg_feeds_fetchFromAllFeeds'))
      expect((await send('POST', '/feeds/fetchFromFeed/84')).text).toBe(recording('bg_feeds_fetchFromFeed'))
    } finally {
      misp.store.backgroundJobs = false
    }
  })

  it('feed routes need a site admin', async () => {
    const user = misp.store.addUser({email: 'reader@misp.local', orgId: '1', roleId: '6'})
    const key = misp.store.addAuthKey(user.id).authkey
    const response = await send('GET', '/feeds/index', undefined, key)
    expect(response.status).toBe(403)
    expect(JSON.parse(response.text).message).toBe('You do not have permission to use this functionality.')
  })
})

describe('double auth key routes', () => {
  it('add returns the recorded fields', async () => {
    const response = await send('POST', '/auth_keys/add/me', {comment: 'mispwazuh harness key'})
    const recordedKeys = keysOf(recording('auth_keys_add_me'), 'AuthKey')
    expect(response.status).toBe(200)
    expect(keysOf(response.text, 'AuthKey')).toEqual(recordedKeys)
    const key = (JSON.parse(response.text) as {AuthKey: Record<string, unknown>}).AuthKey
    expect(key.authkey_raw).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(key.authkey_start).toBe((key.authkey_raw as string).slice(0, 4))
    expect(key.allowed_ips).toBeNull()
    expect(key.user_id).toBe('1')
  })

  it('add for an unknown user matches the recording', async () => {
    const response = await send('POST', '/auth_keys/add/999', {comment: 'x'})
    expect(response.status).toBe(403)
    expect(JSON.parse(response.text)).toEqual(JSON.parse(recording('auth_keys_add_invalid_user')))
  })

  it('index never shows a clear key', async () => {
    const response = await send('GET', '/auth_keys/index')
    expect(response.status).toBe(200)
    expect(response.text).not.toContain(misp.adminKey)
    expect(response.text).not.toContain('authkey_raw')
  })
})

describe('double user and warninglist routes', () => {
  it('users/add requires a known role', async () => {
    const response = await send('POST', '/admin/users/add', {User: {email: 'x@misp.local', role_id: '99'}})
    expect(response.status).toBe(405)
    expect(JSON.parse(response.text).message).toBe('Invalid role')
  })

  it('roles index uses string ids', async () => {
    const response = await send('GET', '/roles/index')
    const roles = JSON.parse(response.text) as Array<{Role: {id: unknown; permission: unknown}}>
    expect(roles.length).toBeGreaterThanOrEqual(6)
    expect(roles.every((item) => typeof item.Role.id === 'string' && typeof item.Role.permission === 'string')).toBe(true)
  })

  it('toggleEnable failure is HTTP 200 with saved false', async () => {
    const response = await send('POST', '/warninglists/toggleEnable', {id: ['424242'], enabled: 1})
    expect(response.status).toBe(200)
    expect(JSON.parse(response.text)).toEqual({saved: false, errors: 'Warninglist(s) not found.'})
  })
})
