/**
 * The MISP double against the responses recorded from MISP 2.5.1 (test/fixtures/misp-recorded):
 * same status codes, same bodies where they do not depend on ids or time, same fields otherwise.
 */
import fs from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {afterAll, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {searchAttributes} from '../support/misp-double/routes/attributes.js'
import {repositoryRoot} from './harness.js'

const recordings = path.join(repositoryRoot, 'test/fixtures/misp-recorded')

function recorded(name: string): string {
  return fs.readFileSync(path.join(recordings, `${name}.json`), 'utf8')
}

function recordedJson(name: string): Record<string, unknown> {
  return JSON.parse(recorded(name)) as Record<string, unknown>
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json(): Record<string, unknown>
}

let misp: MispDouble

beforeAll(async () => {
  misp = await startMispDouble()
})

afterAll(async () => {
  await misp.stop()
})

beforeEach(() => {
  misp.faults.clear()
  for (const id of [...misp.store.events.keys()]) misp.store.deleteEvent(id)
})

function call(method: string, urlPath: string, options: {key?: string | null; body?: unknown; headers?: Record<string, string>} = {}): Promise<Answer> {
  const headers: Record<string, string> = {Accept: 'application/json', 'Content-Type': 'application/json', ...options.headers}
  const key = options.key === undefined ? misp.adminKey : options.key
  if (key !== null) headers.Authorization = key
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)

  return new Promise((resolve, reject) => {
    const request = https.request(`${misp.url}${urlPath}`, {method, headers, ca: fs.readFileSync(misp.caFile)}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown>})
      })
    })
    request.on('error', reject)
    if (body !== undefined) request.write(body)
    request.end()
  })
}

function plantHarnessEvent() {
  const result = misp.store.addEvent({info: 'mispwazuh harness event', distribution: 0, Attribute: [{type: 'domain', category: 'Network activity', value: 'evil-harness.example', to_ids: true, comment: 'recorded by harness'}]})
  if (!result.ok) throw new Error('planting failed')
  return result.value
}

describe('authentication', () => {
  test('answers a wrong key as recorded', async () => {
    const answer = await call('GET', '/servers/getVersion', {key: 'x'.repeat(40)})

    expect(answer.status).toBe(403)
    expect(answer.headers['content-type']).toBe('application/json; charset=UTF-8')
    expect(answer.text).toBe(recorded('error_wrong_key'))
  })

  test('answers a missing key as recorded', async () => {
    const answer = await call('GET', '/servers/getVersion', {key: null})

    expect(answer.status).toBe(403)
    expect(answer.text).toBe(recorded('error_no_key'))
  })

  test('answers a disabled key as recorded', async () => {
    const disabled = misp.store.addAuthKey('1', {disabled: true})
    const answer = await call('GET', '/servers/getVersion', {key: disabled.authkey})

    expect(answer.status).toBe(403)
    expect(answer.text).toBe(recorded('error_disabled_key'))
  })

  test('answers a wrong key on restSearch as recorded', async () => {
    const answer = await call('POST', '/attributes/restSearch', {key: 'y'.repeat(40), body: {returnFormat: 'json', value: 'x.example'}})

    expect(answer.status).toBe(403)
    expect(answer.text).toBe(recorded('error_wrong_key_restSearch'))
  })

  test('rejects an expired key and accepts a key list', async () => {
    const expired = misp.store.addAuthKey('1', {expiration: 1})
    expect((await call('GET', '/servers/getVersion', {key: expired.authkey})).status).toBe(403)

    const answer = await call('GET', '/servers/getVersion', {key: `${expired.authkey},${misp.adminKey}`})
    expect(answer.status).toBe(200)
  })

  test('denies a role without the permission', async () => {
    const user = misp.store.addUser({email: 'reader@example.test', orgId: '1', roleId: '6'})
    const key = misp.store.addAuthKey(user.id).authkey

    const answer = await call('POST', '/events/add', {key, body: {Event: {info: 'x'}}})

    expect(answer.status).toBe(403)
    expect(answer.json()).toEqual({name: 'You do not have permission to use this functionality.', message: 'You do not have permission to use this functionality.', url: '/events/add'})
  })

  test('records requests without the key', async () => {
    misp.requests.length = 0
    await call('GET', '/servers/getVersion')

    expect(misp.requests).toHaveLength(1)
    expect(misp.requests[0]).toMatchObject({method: 'GET', path: '/servers/getVersion', hadAuthKey: true})
    expect(JSON.stringify(misp.requests[0])).not.toContain(misp.adminKey)
  })
})

describe('servers and users', () => {
  test('getVersion equals the recording', async () => {
    const answer = await call('GET', '/servers/getVersion')

    expect(answer.status).toBe(200)
    expect(answer.json()).toEqual(recordedJson('getVersion'))
  })

  test('users/view/me has the recorded fields', async () => {
    const answer = await call('GET', '/users/view/me')
    const body = answer.json()
    const expected = recordedJson('users_view_me')

    expect(answer.status).toBe(200)
    expect(Object.keys(body)).toEqual(Object.keys(expected))
    expect(Object.keys(body.User as object)).toEqual(Object.keys(expected.User as object))
    expect(Object.keys(body.Role as object).sort()).toEqual(
      Object.keys(expected.Role as object).filter((key) => key.startsWith('perm_') || ['id', 'name'].includes(key)).sort(),
    )
    expect(body.User).toMatchObject({email: 'admin@admin.test', password: '*****', role_id: '1'})
  })

  test('answers a request without Accept JSON with a login redirect', async () => {
    const answer = await call('GET', '/servers/getVersion', {headers: {Accept: 'text/html'}})

    expect(answer.status).toBe(302)
    expect(answer.headers.location).toBe('/users/login')
  })
})

describe('attributes/restSearch', () => {
  test('returns a hit in the recorded shape', async () => {
    plantHarnessEvent()

    const answer = await call('POST', '/attributes/restSearch', {body: {returnFormat: 'json', value: 'evil-harness.example', type: 'domain'}})
    const expected = recordedJson('attributes_restSearch_hit') as {response: {Attribute: Record<string, unknown>[]}}
    const body = answer.json() as {response: {Attribute: Record<string, unknown>[]}}
    const [attribute] = body.response.Attribute
    const [expectedAttribute] = expected.response.Attribute

    expect(answer.status).toBe(200)
    expect(answer.text.startsWith('{"response": {"Attribute": [{"id":"')).toBe(true)
    expect(Object.keys(attribute ?? {})).toEqual(Object.keys(expectedAttribute ?? {}))
    expect(Object.keys(attribute?.Event as object)).toEqual(Object.keys(expectedAttribute?.Event as object))
    expect(attribute).toMatchObject({
      category: 'Network activity', type: 'domain', to_ids: true, distribution: '5', comment: 'recorded by harness',
      deleted: false, object_id: '0', value: 'evil-harness.example',
    })
    expect(typeof attribute?.id).toBe('string')
  })

  test('returns a miss as recorded', async () => {
    const answer = await call('POST', '/attributes/restSearch', {body: {returnFormat: 'json', value: 'not-present-harness.example', type: 'domain'}})

    expect(answer.text).toBe(recorded('attributes_restSearch_miss'))
  })

  test('matches a value list, case-insensitively', async () => {
    plantHarnessEvent()
    misp.store.addEvent({info: 'harness local misp feed event', Attribute: [{type: 'domain', value: 'misp-feed-harness.example'}]})

    const answer = await call('POST', '/attributes/restSearch', {body: {returnFormat: 'json', value: ['EVIL-harness.example', 'misp-feed-harness.example', 'nothing.example'], type: 'domain'}})
    const values = (answer.json() as {response: {Attribute: {value: string}[]}}).response.Attribute.map((attribute) => attribute.value)

    expect(values).toEqual(['evil-harness.example', 'misp-feed-harness.example'])
  })

  test('matches either half of composite types', async () => {
    misp.store.addEvent({
      info: 'composites',
      Attribute: [
        {type: 'domain|ip', value: 'c2.example|203.0.113.9'},
        {type: 'filename|sha256', value: 'evil.exe|' + 'AB'.repeat(32)},
        {type: 'ip-dst|port', value: '2001:0db8:0000:0000:0000:0000:0000:0009|443'},
      ],
    })

    const search = (value: string) => searchAttributes(misp.store, {value}).map((attribute) => attribute.type)

    expect(search('c2.example')).toEqual(['domain|ip'])
    expect(search('203.0.113.9')).toEqual(['domain|ip'])
    expect(search('ab'.repeat(32))).toEqual(['filename|sha256'])
    expect(search('EVIL.EXE')).toEqual(['filename|sha256'])
    expect(search('2001:db8::9')).toEqual(['ip-dst|port'])
    expect(search('443')).toEqual(['ip-dst|port'])
    expect(search('c2.example|203.0.113.9')).toEqual([])
  })

  test('treats an empty value as no value filter', async () => {
    plantHarnessEvent()
    misp.store.addEvent({info: 'other', Attribute: [{type: 'md5', value: 'c'.repeat(32)}]})

    expect(searchAttributes(misp.store, {value: ''})).toHaveLength(2)
    expect(searchAttributes(misp.store, {value: []})).toHaveLength(2)
    expect(searchAttributes(misp.store, {value: 'x.example'})).toHaveLength(0)
  })

  test('filters on type, to_ids, published, deleted and warninglists', async () => {
    const published = misp.store.addEvent({info: 'published', published: true, Attribute: [{type: 'domain', value: 'a.example'}]})
    if (!published.ok) throw new Error('planting failed')
    misp.store.addEvent({
      info: 'unpublished',
      Attribute: [
        {type: 'domain', value: 'b.example', to_ids: false},
        {type: 'hostname', value: 'c.example'},
        {type: 'domain', value: 'd.example', deleted: true},
        {type: 'ip-dst', value: '8.8.8.8'},
      ],
    })
    misp.store.addWarninglist({name: 'List of known IPv4 public DNS resolvers', type: 'cidr', entries: ['8.8.8.8/32']})

    const values = (filters: Record<string, unknown>) => searchAttributes(misp.store, filters).map((attribute) => attribute.value)

    expect(values({})).toEqual(['a.example', 'b.example', 'c.example', '8.8.8.8'])
    expect(values({type: 'hostname'})).toEqual(['c.example'])
    expect(values({type: ['domain', 'hostname']})).toEqual(['a.example', 'b.example', 'c.example'])
    expect(values({to_ids: 1})).toEqual(['a.example', 'c.example', '8.8.8.8'])
    expect(values({to_ids: 0})).toEqual(['b.example'])
    expect(values({published: 1})).toEqual(['a.example'])
    expect(values({deleted: 1})).toEqual(['d.example'])
    expect(values({deleted: [0, 1]})).toHaveLength(5)
    expect(values({enforceWarninglist: 1})).toEqual(['a.example', 'b.example', 'c.example'])
    expect(values({value: '%.example', type: 'domain'})).toEqual(['a.example', 'b.example'])
  })

  test('pages with limit and page', async () => {
    misp.store.addEvent({info: 'many', Attribute: ['a', 'b', 'c', 'd', 'e'].map((label) => ({type: 'domain', value: `${label}.example`}))})

    const page = async (limit: number, pageNumber?: number) => {
      const answer = await call('POST', '/attributes/restSearch', {body: {returnFormat: 'json', limit, page: pageNumber}})
      return (answer.json() as {response: {Attribute: {value: string}[]}}).response.Attribute.map((attribute) => attribute.value)
    }

    expect(await page(2)).toEqual(['a.example', 'b.example'])
    expect(await page(2, 3)).toEqual(['e.example'])
    expect(await page(2, 4)).toEqual([])
  })

  test('adds event tags and context on request', async () => {
    const event = plantHarnessEvent()
    misp.store.tagEvent(event.id, 'tlp:green')
    const attributeId = misp.store.eventAttributes(event.id)[0]?.id ?? ''
    misp.store.tagAttribute(attributeId, 'kill-chain:delivery')

    const plain = await call('POST', '/attributes/restSearch', {body: {value: 'evil-harness.example'}})
    const withTags = await call('POST', '/attributes/restSearch', {body: {value: 'evil-harness.example', includeEventTags: 1, includeContext: 1}})
    const [plainAttribute] = (plain.json() as {response: {Attribute: Record<string, unknown>[]}}).response.Attribute
    const [taggedAttribute] = (withTags.json() as {response: {Attribute: Record<string, unknown>[]}}).response.Attribute

    expect((plainAttribute?.Tag as {name: string}[]).map((tag) => tag.name)).toEqual(['kill-chain:delivery'])
    expect(taggedAttribute?.Tag).toEqual([
      expect.objectContaining({name: 'kill-chain:delivery'}),
      expect.objectContaining({name: 'tlp:green', inherited: 1}),
    ])
    expect(taggedAttribute?.Event).toMatchObject({id: event.id, threat_level_id: '4', info: 'mispwazuh harness event', published: false, Tag: [expect.objectContaining({name: 'tlp:green'})], Orgc: {name: 'ORGNAME'}})
  })

  test('rejects GET without parameters', async () => {
    const answer = await call('GET', '/attributes/restSearch')

    expect(answer.status).toBe(400)
  })
})

describe('events and attributes/add', () => {
  test('adds an event with an attribute in the recorded shape', async () => {
    const answer = await call('POST', '/events/add', {body: {Event: {info: 'mispwazuh harness event 2', distribution: 0, threat_level_id: 4, analysis: 0, Attribute: [{type: 'domain', category: 'Network activity', value: 'second-harness.example', to_ids: true}]}}})
    const expected = recordedJson('events_add_with_attribute') as {Event: Record<string, unknown>}
    const body = answer.json() as {Event: Record<string, unknown>}

    expect(answer.status).toBe(200)
    expect(Object.keys(body.Event)).toEqual(Object.keys(expected.Event))
    const [attribute] = body.Event.Attribute as Record<string, unknown>[]
    const [expectedAttribute] = expected.Event.Attribute as Record<string, unknown>[]
    expect(Object.keys(attribute ?? {})).toEqual(Object.keys(expectedAttribute ?? {}))
    expect(body.Event).toMatchObject({info: 'mispwazuh harness event 2', distribution: '0', threat_level_id: '4', published: false, attribute_count: '1'})
    expect(answer.text).toContain('\n    "Event": {\n        "id": "')
  })

  test('adds an attribute in the recorded shape and unpublishes the event', async () => {
    const event = misp.store.addEvent({info: 'mispwazuh harness event', published: true, Attribute: [{type: 'md5', value: 'd'.repeat(32)}]})
    if (!event.ok) throw new Error('planting failed')

    const answer = await call('POST', `/attributes/add/${event.value.id}`, {body: {type: 'domain', category: 'Network activity', value: 'Evil-Harness.example.', to_ids: true, distribution: 5, comment: 'recorded by harness'}})
    const expected = recordedJson('attributes_add') as {Attribute: Record<string, unknown>}
    const body = answer.json() as {Attribute: Record<string, unknown>}

    expect(answer.status).toBe(200)
    expect(Object.keys(body)).toEqual(Object.keys(expected))
    expect(Object.keys(body.Attribute)).toEqual(Object.keys(expected.Attribute))
    expect(body.Attribute).toMatchObject({value: 'evil-harness.example', value1: 'evil-harness.example', value2: '', event_id: event.value.id})
    expect(misp.store.events.get(event.value.id)?.published).toBe(false)
  })

  test('answers an invalid attribute as recorded', async () => {
    const event = plantHarnessEvent()
    const answer = await call('POST', `/attributes/add/${event.id}`, {body: {type: 'domain', category: 'Network activity', value: 'not a domain!!'}})

    expect(answer.status).toBe(403)
    expect(answer.json()).toEqual(recordedJson('attributes_add_invalid'))
  })

  test('answers a duplicate attribute with a 403 validation error', async () => {
    const event = plantHarnessEvent()
    const answer = await call('POST', `/attributes/add/${event.id}`, {body: {type: 'domain', value: 'evil-harness.example'}})

    expect(answer.status).toBe(403)
    expect(answer.json()).toMatchObject({saved: false, errors: {value: ['A similar attribute already exists for this event.']}})
  })

  test('views, publishes and deletes an event', async () => {
    const event = plantHarnessEvent()

    const view = await call('GET', `/events/view/${event.id}`)
    expect(view.status).toBe(200)
    expect((view.json() as {Event: {Attribute: unknown[]}}).Event.Attribute).toHaveLength(1)

    const publish = await call('POST', `/events/publish/${event.id}`)
    expect(publish.json()).toEqual({...recordedJson('events_publish'), url: `/events/publish/${event.id}`, id: event.id})
    expect(misp.store.events.get(event.id)?.published).toBe(true)

    misp.store.backgroundJobs = true
    const queued = await call('POST', `/events/publish/${event.id}`)
    misp.store.backgroundJobs = false
    expect(queued.json()).toEqual({...recordedJson('bg_events_publish'), url: `/events/publish/${event.id}`, id: event.id})

    const deleted = await call('DELETE', `/events/delete/${event.id}`)
    expect(deleted.json()).toEqual({saved: true, success: true, name: 'Event deleted.', message: 'Event deleted.', url: `/events/delete/${event.id}`, id: event.id})
    expect(misp.store.events.has(event.id)).toBe(false)
    expect(misp.store.eventAttributes(event.id)).toEqual([])
  })

  test('answers unknown events as recorded', async () => {
    const view = await call('GET', '/events/view/99999')
    const publish = await call('POST', '/events/publish/99999')

    expect(view.status).toBe(404)
    expect(view.text).toBe(recorded('events_view_notfound'))
    expect(publish.status).toBe(404)
    expect(publish.text).toBe(recorded('events_publish_notfound'))
  })
})

describe('faults', () => {
  test('adds latency', async () => {
    misp.faults.set({latencyMs: 300})
    const started = performance.now()
    await call('GET', '/servers/getVersion')

    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
  })

  test('answers "MISP is loading" for the first requests only', async () => {
    misp.faults.set({loadingRequests: 2})

    const statuses = []
    for (let index = 0; index < 3; index += 1) statuses.push((await call('GET', '/servers/getVersion')).status)

    expect(statuses).toEqual([503, 503, 200])
  })

  test('answers a fixed status, HTML, invalid JSON and a huge body', async () => {
    misp.faults.set({fixedStatus: {code: 429, body: '{"name":"Rate limit exceeded."}'}})
    expect((await call('GET', '/servers/getVersion')).status).toBe(429)

    misp.faults.clear().set({htmlLoginPage: true})
    const html = await call('GET', '/servers/getVersion')
    expect(html.headers['content-type']).toContain('text/html')
    expect(html.text).toContain('/users/login')

    misp.faults.clear().set({invalidJson: true})
    const broken = await call('POST', '/attributes/restSearch', {body: {value: 'x'}})
    expect(() => broken.json()).toThrow()

    misp.faults.clear().set({hugeResponseBytes: 1_000_000})
    const huge = await call('POST', '/attributes/restSearch', {body: {value: 'x'}})
    expect(huge.text.length).toBeGreaterThanOrEqual(1_000_000)
    expect((huge.json() as {response: {Attribute: unknown[]}}).response.Attribute.length).toBeGreaterThan(100)
  })

  test('closes the connection without an answer', async () => {
    misp.faults.set({resetConnection: true})

    await expect(call('GET', '/servers/getVersion')).rejects.toThrow()
  })

  test('limits faults to a path prefix', async () => {
    misp.faults.set({fixedStatus: {code: 500, body: '{}'}, pathPrefix: '/attributes/'})

    expect((await call('GET', '/servers/getVersion')).status).toBe(200)
    expect((await call('POST', '/attributes/restSearch', {body: {value: 'x'}})).status).toBe(500)
  })
})
