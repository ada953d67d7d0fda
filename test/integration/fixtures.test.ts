/**
 * The real Sysmon and FIM alert fixtures with IoCs planted in the MISP double: every IoC found,
 * every matching attribute reported, and the queue message format exact.
 */
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {startQueueListener, type QueueListener} from '../support/queue-listener.js'
import {createWorkspace, loadAlert, payloadOf, restSearchBodies, runIntegration, withField, type Workspace} from './harness.js'

let misp: MispDouble
let queue: QueueListener
let workspace: Workspace

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
  for (const id of [...misp.store.events.keys()]) misp.store.deleteEvent(id)
  workspace = createWorkspace({mispUrl: misp.url, apiKey: misp.adminKey, caFile: misp.caFile, queueSocket: queue.path})
})

afterEach(() => {
  workspace.cleanup()
})

function plant(info: string, attributes: Record<string, unknown>[], options: {threatLevel?: string; tags?: string[]} = {}) {
  const result = misp.store.addEvent({info, threat_level_id: options.threatLevel ?? '2', Attribute: attributes, Tag: options.tags ?? []})
  if (!result.ok) throw new Error(`planting ${info} failed: ${JSON.stringify(result.errors)}`)
  return result.value
}

describe('Sysmon event 22 (DNS query)', () => {
  test('reports the parent domain and the resolved IPs', async () => {
    const alert = loadAlert('sysmon-eid22-dns-query.alert.json')
    const domainEvent = plant('akamai abuse', [{type: 'domain', value: 'akamaized.net', comment: 'planted'}], {threatLevel: '1', tags: ['tlp:amber']})
    const domainAttribute = misp.store.eventAttributes(domainEvent.id)[0]
    if (!domainAttribute) throw new Error('planted attribute missing')
    misp.store.tagAttribute(domainAttribute.id, 'kill-chain:c2')
    const ipEvent = plant('bad resolver answer', [{type: 'ip-dst', value: '181.30.131.40'}])
    const compositeEvent = plant('domain with ip', [{type: 'domain|ip', value: 'other-harness.example|181.30.131.42'}])

    const result = await runIntegration(workspace, alert)

    expect(result.exitCode).toBe(0)
    expect(result.stderr).toBe('')
    const messages = await queue.waitForMessages(3)
    expect(messages).toHaveLength(3)
    for (const message of messages) {
      expect(message.queueType).toBe('1')
      expect(message.location).toBe('[001] (win-agent-01) 192.0.2.10->misp')
      expect(message.raw.startsWith('1:[001] (win-agent-01) 192.0.2.10->misp:{')).toBe(true)
    }

    const payloads = messages.map((message) => payloadOf(message))
    const byEvent = new Map(payloads.map((payload) => [payload.misp.event_id, payload]))
    expect(payloads.every((payload) => payload.integration === 'misp')).toBe(true)

    const domainHit = byEvent.get(domainEvent.id)
    expect(domainHit?.misp).toMatchObject({
      event_id: domainEvent.id,
      event_uuid: domainEvent.uuid,
      event_info: 'akamai abuse',
      threat_level_id: '1',
      threat_level: 'High',
      category: 'Network activity',
      type: 'domain',
      value: 'akamaized.net',
      to_ids: true,
      comment: 'planted',
      tags: ['kill-chain:c2'],
      event_tags: ['tlp:amber'],
      org: 'ORGNAME',
      ioc: 'img-s-msn-com.akamaized.net',
      ioc_value: 'img-s-msn-com.akamaized.net',
      ioc_type: 'domain',
      ioc_field: 'data.win.eventdata.queryName',
      matched_value: 'akamaized.net',
      source: {
        alert_id: '1630528834.5301',
        rule_id: '61650',
        rule_description: 'Sysmon - Event 22: DNS Query event',
        agent_id: '001',
        agent_name: 'win-agent-01',
        agent_ip: '192.0.2.10',
      },
    })
    expect(byEvent.get(ipEvent.id)?.misp).toMatchObject({type: 'ip-dst', value: '181.30.131.40', ioc_field: 'data.win.eventdata.queryResults', ioc_type: 'ip'})
    expect(byEvent.get(compositeEvent.id)?.misp).toMatchObject({type: 'domain|ip', value: 'other-harness.example|181.30.131.42', ioc: '181.30.131.42'})

    expect(result.log.filter((line) => line.includes('INFO: alert 1630528834.5301: MISP match'))).toHaveLength(3)
  })

  test('sends one restSearch with all values and the filters', async () => {
    const result = await runIntegration(workspace, loadAlert('sysmon-eid22-dns-query.alert.json'))

    expect(result.exitCode).toBe(0)
    const bodies = restSearchBodies(misp.requests)
    expect(bodies).toHaveLength(1)
    const body = bodies[0]
    expect(body?.value).toEqual(['181.30.131.40', '181.30.131.42', 'akamaized.net', 'img-s-msn-com.akamaized.net'])
    expect(body?.type).toEqual(expect.arrayContaining(['domain', 'hostname', 'domain|ip', 'ip-dst', 'ip-src', 'ip-dst|port']))
    expect(body?.to_ids).toBe(1)
    expect(body?.enforceWarninglist).toBe(1)
    expect(body?.deleted).toBe(0)
    expect(body?.limit).toBe(100)
    expect(body?.returnFormat).toBe('json')
    expect(body).not.toHaveProperty('published')
    expect(misp.requests[0]?.headers.accept).toBe('application/json')
    expect(misp.requests[0]?.hadAuthKey).toBe(true)
    expect(queue.messages).toHaveLength(0)
  })
})

describe('Sysmon event 1 (process creation)', () => {
  test('reports every attribute for every hash', async () => {
    const alert = loadAlert('sysmon-eid1-process-create.alert.json')
    const sha256 = '2198a7b58bccb758036b969ddae6cc2ece07565e2659a7c541a313a0492231a3'
    const first = plant('wmiprvse sample', [{type: 'sha256', value: sha256.toUpperCase()}])
    const second = plant('same sample elsewhere', [
      {type: 'sha256', value: sha256},
      {type: 'filename|md5', value: 'WmiPrvSE.exe|60FF40CFD7FB8FE41EE4FE9AE5FE1C51'},
      {type: 'sha1', value: '3ea7cc066317ac45f963c2227c4c7c50aa16eb7c', to_ids: false},
    ])
    plant('imphash family', [{type: 'imphash', value: 'b71cb3ac5c352bec857c940cbc95f0f3'}])

    const result = await runIntegration(workspace, alert)

    expect(result.exitCode).toBe(0)
    const payloads = (await queue.waitForMessages(4)).map((message) => payloadOf(message))
    expect(payloads).toHaveLength(4)
    const summary = payloads.map((payload) => `${payload.misp.event_id}:${payload.misp.type}:${payload.misp.ioc_type}`).sort()
    expect(summary).toEqual(
      [`${first.id}:sha256:sha256`, `${second.id}:sha256:sha256`, `${second.id}:filename|md5:md5`, `${Number(second.id) + 1}:imphash:imphash`].sort(),
    )
    const md5Hit = payloads.find((payload) => payload.misp.type === 'filename|md5')
    expect(md5Hit?.misp.ioc).toBe('60FF40CFD7FB8FE41EE4FE9AE5FE1C51')
    expect(md5Hit?.misp.ioc_value).toBe('60ff40cfd7fb8fe41ee4fe9ae5fe1c51')
    expect(md5Hit?.misp.ioc_field).toBe('data.win.eventdata.hashes')
    expect(payloads.some((payload) => payload.misp.type === 'sha1')).toBe(false)
  })
})

describe('Sysmon event 3 (network connection)', () => {
  test('escapes an IPv6 agent address in the location', async () => {
    let alert = loadAlert('sysmon-eid3-network-connect.alert.json')
    alert = withField(alert, 'data.win.eventdata.destinationIp', '185.199.108.153')
    alert = withField(alert, 'agent.ip', '2001:db8::10')
    plant('c2 server', [{type: 'ip-dst|port', value: '185.199.108.153|7010'}])

    const result = await runIntegration(workspace, alert)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(message?.location).toBe('[001] (win-agent-01) 2001|:db8|:|:10->misp')
    expect(message?.raw.startsWith('1:[001] (win-agent-01) 2001|:db8|:|:10->misp:{"integration":"misp"')).toBe(true)
    expect(payloadOf(message as {payload: string}).misp).toMatchObject({type: 'ip-dst|port', ioc: '185.199.108.153', ioc_field: 'data.win.eventdata.destinationIp'})
  })

  test('escapes "|" and ":" in the agent name', async () => {
    let alert = loadAlert('sysmon-eid3-network-connect.alert.json')
    alert = withField(alert, 'data.win.eventdata.destinationIp', '185.199.108.154')
    alert = withField(alert, 'agent.name', 'host|a:b')
    plant('c2 server', [{type: 'ip-dst', value: '185.199.108.154'}])

    await runIntegration(workspace, alert)

    const [message] = await queue.waitForMessages(1)
    expect(message?.location).toBe('[001] (host||a|:b) 192.0.2.10->misp')
  })

  test('looks up nothing for a private destination', async () => {
    const result = await runIntegration(workspace, loadAlert('sysmon-eid3-network-connect.alert.json'))

    expect(result.exitCode).toBe(0)
    expect(restSearchBodies(misp.requests)).toHaveLength(0)
    expect(result.log.some((line) => line.includes('no IoC to look up (rule 61605'))).toBe(true)
  })
})

describe('FIM (syscheck)', () => {
  test('reports a planted sha256 from a file-added alert', async () => {
    const alert = loadAlert('docs-syscheck-554-file-added.alert.json')
    const event = plant('known bad file', [{type: 'sha256', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'}])

    const result = await runIntegration(workspace, alert)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(message?.location).toBe('[010] (Ubuntu) 10.0.2.15->misp')
    expect(payloadOf(message as {payload: string}).misp).toMatchObject({
      event_id: event.id,
      ioc_field: 'syscheck.sha256_after',
      ioc_type: 'sha256',
      source: {alert_id: '1668705462.50453', rule_id: '554', rule_description: 'File added to the system.', agent_id: '010'},
    })
    const [body] = restSearchBodies(misp.requests)
    expect(body?.value).toEqual([
      'd41d8cd98f00b204e9800998ecf8427e',
      'da39a3ee5e6b4b0d3255bfef95601890afd80709',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ])
  })

  test('uses location "misp" for manager alerts', async () => {
    const alert = withField(loadAlert('misp-readme-syscheck-554-file-added.alert.json'), 'agent', {id: '000', name: 'wazuh-server'})
    plant('known bad php upload', [{type: 'md5', value: '15a579c2901ec26cbef176f52402c2ff'}])

    await runIntegration(workspace, alert)

    const [message] = await queue.waitForMessages(1)
    expect(message?.location).toBe('misp')
    expect(message?.raw.startsWith('1:misp:{"integration":"misp"')).toBe(true)
  })
})

describe('message size', () => {
  test('shortens a message over 65535 bytes', async () => {
    const event = plant('x'.repeat(70_000), [{type: 'domain', value: 'akamaized.net'}], {tags: Array.from({length: 40}, (_, index) => `tag:${index}`)})

    await runIntegration(workspace, loadAlert('sysmon-eid22-dns-query.alert.json'))

    const [message] = await queue.waitForMessages(1)
    expect(message?.bytes).toBeLessThanOrEqual(65535)
    const misp = payloadOf(message as {payload: string}).misp
    expect(misp.truncated).toBe(true)
    expect(misp.event_id).toBe(event.id)
    expect(misp.event_info).toBe('x'.repeat(2048))
    expect(misp.event_tags).toHaveLength(10)
  })

  test('logs a message that cannot be shortened enough', async () => {
    plant('oversized agent name', [{type: 'domain', value: 'akamaized.net'}])
    const alert = withField(loadAlert('sysmon-eid22-dns-query.alert.json'), 'agent.name', 'n'.repeat(70_000))

    const result = await runIntegration(workspace, alert)

    expect(result.exitCode).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(0)
    expect(result.log.some((line) => line.includes('ERROR') && line.includes('is above 65535 bytes even when shortened'))).toBe(true)
  })
})

describe('queue socket', () => {
  test('logs results when the socket is missing', async () => {
    plant('akamai abuse', [{type: 'domain', value: 'akamaized.net'}])
    workspace.configure({queue_socket: `${workspace.directory}/no-manager/queue`})

    const result = await runIntegration(workspace, loadAlert('sysmon-eid22-dns-query.alert.json'))

    expect(result.exitCode).toBe(0)
    const undelivered = result.log.filter((line) => line.includes('ERROR') && line.includes('message not delivered'))
    expect(undelivered).toHaveLength(1)
    expect(undelivered[0]).toContain('1:[001] (win-agent-01) 192.0.2.10->misp:{"integration":"misp"')
    expect(undelivered[0]).toContain('"value":"akamaized.net"')
  })
})

describe('self-test alert', () => {
  test('looks up the canary domain', async () => {
    const event = plant('mispwazuh canary', [{type: 'domain', value: 'canary-1234.mispwazuh.example'}])
    const alert = {
      id: '1796411700.1',
      rule: {id: '100650', level: 3, description: 'mispwazuh self-test', groups: ['mispwazuh_selftest']},
      agent: {id: '000', name: 'wazuh-server'},
      data: {mispwazuh: {canary_domain: 'Canary-1234.mispwazuh.example.'}},
      location: 'mispwazuh-selftest',
    }

    await runIntegration(workspace, alert)

    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp).toMatchObject({
      event_id: event.id,
      ioc: 'Canary-1234.mispwazuh.example.',
      ioc_value: 'canary-1234.mispwazuh.example',
      ioc_field: 'data.mispwazuh.canary_domain',
    })
  })
})
