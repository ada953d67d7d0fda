import fs from 'node:fs'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {
  certificateFingerprint,
  fetchServerCertificate,
  MispAuthError,
  MispClient,
  MispConnectionError,
  MispForbiddenError,
  MispHtmlResponseError,
  MispInvalidJsonError,
  MispNotFoundError,
  MispRateLimitError,
  MispServerError,
  MispTlsError,
  MispValidationError,
} from '../../src/misp/client.js'
import {InvalidInputError} from '../../src/errors.js'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'

let misp: MispDouble
let logLines: string[]

function client(overrides: Partial<ConstructorParameters<typeof MispClient>[0]> = {}): MispClient {
  return new MispClient({url: misp.url, key: misp.adminKey, ca: misp.tls.ca.certPem, retries: 2, retryDelayMs: 10, log: (line) => logLines.push(line), ...overrides})
}

beforeAll(async () => {
  misp = await startMispDouble()
})

afterAll(async () => {
  await misp.stop()
})

beforeEach(() => {
  misp.faults.clear()
  logLines = []
})

describe('MispClient requests', () => {
  it('sends key, Accept and Content-Type', async () => {
    const before = misp.requests.length
    await client().loadDefaultFeeds()
    const request = misp.requests[before]!
    expect(request.hadAuthKey).toBe(true)
    expect(request.headers.accept).toBe('application/json')
    expect(request.headers['content-type']).toBe('application/json')
  })

  it('getVersion returns the version', async () => {
    const version = await client().getVersion()
    expect(version.version).toBe('2.5.1')
  })

  it('getCurrentUser keeps string ids', async () => {
    const me = await client().getCurrentUser()
    expect(me.User.id).toBe('1')
    expect(me.Organisation.id).toBe('1')
    expect(typeof me.Role.id).toBe('string')
  })
})

describe('MispClient feeds', () => {
  it('loads default feeds without duplicates', async () => {
    const api = client()
    await api.loadDefaultFeeds()
    const first = await api.listFeeds()
    await api.loadDefaultFeeds()
    const second = await api.listFeeds()
    expect(first).toHaveLength(84)
    expect(second).toHaveLength(84)
    expect(first.every((feed) => feed.enabled === false)).toBe(true)
    expect(first[0]!.id).toBe('1')
  })

  it('editFeed enables with caching', async () => {
    const feed = await client().editFeed('2', {enabled: true, caching_enabled: true})
    expect(feed.id).toBe('2')
    expect(feed.enabled).toBe(true)
    expect(feed.caching_enabled).toBe(true)
  })

  it('enableFeed and disableFeed', async () => {
    const api = client()
    expect((await api.enableFeed('3')).message).toBe('Feed enabled.')
    expect((await api.listFeeds()).find((feed) => feed.id === '3')!.enabled).toBe(true)
    expect((await api.disableFeed('3')).message).toBe('Feed disabled.')
  })

  it('enableFeed unknown id is not found', async () => {
    const error = await client().enableFeed('99999').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispNotFoundError)
    expect((error as MispNotFoundError).request.status).toBe(405)
  })

  it('fetchFromFeed reports a disabled feed', async () => {
    const result = await client().fetchFromFeed('4')
    expect(result.result).toBe('Feed is currently not enabled. Make sure you enable it.')
  })

  it('fetchFromFeed unknown id is not found', async () => {
    await expect(client().fetchFromFeed('99999')).rejects.toBeInstanceOf(MispNotFoundError)
  })

  it('fetchFromAllFeeds queues a pull', async () => {
    const result = await client().fetchFromAllFeeds()
    expect(result.result).toBe('Pull queued for background execution.')
  })

  it('cacheFeeds succeeds and sets the cache time', async () => {
    const api = client()
    const result = await api.cacheFeeds('all')
    expect(result.ok).toBe(true)
    expect(result.message).toBe('Caching the feeds has successfully completed.')
    const feed = (await api.listFeeds()).find((item) => item.id === '2')!
    expect(feed.cache_timestamp).toMatch(/^\d+$/)
  })

  it('cacheFeeds failure redirect is not ok', async () => {
    feedStateOf(misp.store).failingFeedIds.add('2')
    try {
      const result = await client().cacheFeeds('all')
      expect(result.ok).toBe(false)
    } finally {
      feedStateOf(misp.store).failingFeedIds.delete('2')
    }
  })
})

describe('MispClient warninglists, roles, users, auth keys', () => {
  it('updates and enables warninglists', async () => {
    const api = client()
    await api.updateWarninglists()
    const lists = await api.listWarninglists()
    expect(lists.length).toBeGreaterThan(0)
    expect(lists.every((list) => list.enabled === false)).toBe(true)
    const result = await api.enableWarninglists(lists.map((list) => list.id))
    expect(result.success).toBe(`${lists.length} warninglist(s) enabled`)
    expect((await api.listWarninglists()).every((list) => list.enabled)).toBe(true)
  })

  it('enableWarninglists unknown id is a validation error', async () => {
    await expect(client().enableWarninglists(['9999'])).rejects.toBeInstanceOf(MispValidationError)
  })

  it('adds a role, a user and an auth key', async () => {
    const api = client()
    const role = await api.addRole({name: 'client-test-read', permission: '0', perm_auth: true})
    expect(role.perm_auth).toBe(true)
    expect(role.perm_add).toBe(false)
    expect((await api.listRoles()).some((item) => item.id === role.id)).toBe(true)

    const user = await api.addUser({email: 'client-test@misp.local', org_id: '1', role_id: role.id})
    expect(user.email).toBe('client-test@misp.local')
    expect(user.password).toBe('******')
    expect(user.authkey).toMatch(/^[A-Za-z0-9]{40}$/)
    expect((await api.listUsers()).some((item) => item.User.id === user.id)).toBe(true)

    const key = await api.addAuthKey(user.id, {comment: 'client test'})
    expect(key.authkey_raw).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(key.user_id).toBe(user.id)
    const listed = await api.listAuthKeys(user.id)
    expect(listed).toHaveLength(2)
    expect(listed.map((item) => item.id)).toContain(key.id)
    expect(JSON.stringify(listed)).not.toContain(key.authkey_raw)

    const asUser = client({key: key.authkey_raw})
    expect((await asUser.getCurrentUser()).User.email).toBe('client-test@misp.local')
    await expect(asUser.listFeeds()).rejects.toBeInstanceOf(MispForbiddenError)

    await api.deleteAuthKey(key.id)
    await expect(asUser.getVersion()).rejects.toBeInstanceOf(MispAuthError)
  })

  it('addUser duplicate email is a validation error', async () => {
    const error = await client().addUser({email: 'admin@admin.test', org_id: '1', role_id: '3'}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispValidationError)
    expect((error as MispValidationError).request.status).toBe(403)
    expect((error as Error).message).toContain('email')
  })

  it('addUser unknown role is not found', async () => {
    const error = await client().addUser({email: 'nobody@misp.local', org_id: '1', role_id: '999'}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispNotFoundError)
    expect((error as MispNotFoundError).request.status).toBe(405)
  })

  it('addAuthKey unknown user is a validation error', async () => {
    const error = await client().addAuthKey('999', {comment: 'x'}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispValidationError)
    expect((error as MispValidationError).errors).toEqual({user_id: ["User doesn't exists"]})
  })

  it('searchAttributes returns attributes', async () => {
    expect(await client().searchAttributes({value: 'nothing.example', type: 'domain'})).toEqual([])
  })
})

describe('MispClient errors', () => {
  it('wrong key is an auth error', async () => {
    const error = await client({key: 'A'.repeat(40)}).getVersion().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispAuthError)
    expect((error as MispAuthError).code).toBe('misp_auth_failed')
    expect((error as Error).message).not.toContain('A'.repeat(40))
  })

  it('malformed key is rejected before sending', () => {
    expect(() => client({key: 'short'})).toThrow(InvalidInputError)
  })

  it('retries the loading page, then succeeds', async () => {
    misp.faults.set({loadingRequests: 2})
    const version = await client().getVersion()
    expect(version.version).toBe('2.5.1')
    expect(logLines.filter((line) => line.includes('MISP is loading'))).toHaveLength(2)
  })

  it('loading page after every retry is a server error', async () => {
    misp.faults.set({loadingRequests: 10})
    await expect(client({retries: 1}).getVersion()).rejects.toBeInstanceOf(MispServerError)
  })

  it('retries a 500, then reports it', async () => {
    misp.faults.set({fixedStatus: {code: 500, body: '{"name":"An Internal Error Has Occurred.","message":"An Internal Error Has Occurred.","url":"/servers/getVersion"}'}})
    const before = misp.requests.length
    await expect(client({retries: 2}).getVersion()).rejects.toBeInstanceOf(MispServerError)
    expect(misp.requests.length - before).toBe(3)
  })

  it('429 is a rate limit error', async () => {
    misp.faults.set({fixedStatus: {code: 429, body: '{"name":"Rate limit exceeded.","message":"Rate limit exceeded.","url":"/servers/getVersion"}'}})
    await expect(client().getVersion()).rejects.toBeInstanceOf(MispRateLimitError)
  })

  it('404 is a not found error', async () => {
    misp.faults.set({fixedStatus: {code: 404, body: '{"name":"Invalid feed.","message":"Invalid feed.","url":"/feeds/view/9"}'}})
    await expect(client().getVersion()).rejects.toBeInstanceOf(MispNotFoundError)
  })

  it('HTML page is an HTML error', async () => {
    misp.faults.set({htmlLoginPage: true})
    const error = await client().getVersion().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispHtmlResponseError)
    expect((error as MispHtmlResponseError).excerpt).toBe('Users - MISP')
  })

  it('broken JSON is an invalid JSON error', async () => {
    misp.faults.set({invalidJson: true})
    await expect(client().getVersion()).rejects.toBeInstanceOf(MispInvalidJsonError)
  })

  it('reset connection is a connection error after retries', async () => {
    misp.faults.set({resetConnection: true})
    await expect(client({retries: 1}).getVersion()).rejects.toBeInstanceOf(MispConnectionError)
    expect(logLines.some((line) => line.includes('retry 1 of 1'))).toBe(true)
  })

  it('closed port is a connection error', async () => {
    const api = new MispClient({url: 'https://127.0.0.1:1', key: misp.adminKey, ca: misp.tls.ca.certPem, retries: 0})
    await expect(api.getVersion()).rejects.toBeInstanceOf(MispConnectionError)
  })

  it('untrusted CA names the fingerprint', async () => {
    const error = await client({ca: misp.tls.otherCa.certPem}).getVersion().catch((caught: unknown) => caught)
    const fingerprint = certificateFingerprint(misp.tls.server.certPem)
    expect(error).toBeInstanceOf(MispTlsError)
    expect((error as MispTlsError).fingerprint).toBe(fingerprint)
    expect((error as Error).message).toContain(fingerprint)
  })

  it('pinned fingerprint mismatch is a TLS error', async () => {
    const error = await client({pinnedFingerprint: 'AB'.repeat(32)}).getVersion().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispTlsError)
  })

  it('pinned fingerprint match succeeds', async () => {
    const fingerprint = certificateFingerprint(misp.tls.server.certPem)
    expect((await client({pinnedFingerprint: fingerprint}).getVersion()).version).toBe('2.5.1')
  })

  it('fetchServerCertificate reads without trusting', async () => {
    const presented = await fetchServerCertificate(misp.url)
    expect(presented.fingerprint256).toBe(certificateFingerprint(fs.readFileSync(misp.tls.server.certFile)))
    expect(presented.selfSigned).toBe(false)
    expect(presented.subjectAltName).toContain('127.0.0.1')
  })
})
