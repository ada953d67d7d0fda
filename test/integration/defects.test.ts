/**
 * Alert shapes that crash or mislead the public MISP scripts: missing fields, groups in another
 * order, Sysmon event 15's Hash field, IPv6, multicast, hash lists without SHA256, names that must
 * never be looked up, and MISP responses that must not be trusted blindly.
 */
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {startQueueListener, type QueueListener} from '../support/queue-listener.js'
import {
  createWorkspace,
  loadAlert,
  payloadOf,
  restSearchBodies,
  runIntegration,
  withField,
  type Alert,
  type RunResult,
  type Workspace,
} from './harness.js'

let misp: MispDouble
let queue: QueueListener
let workspace: Workspace

const processCreate = loadAlert('sysmon-eid1-process-create.alert.json')
const dnsQuery = loadAlert('sysmon-eid22-dns-query.alert.json')
const networkConnect = loadAlert('sysmon-eid3-network-connect.alert.json')

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
  for (const id of [...misp.store.warninglists.keys()]) misp.store.warninglists.delete(id)
  workspace = createWorkspace({mispUrl: misp.url, apiKey: misp.adminKey, caFile: misp.caFile, queueSocket: queue.path})
})

afterEach(() => {
  workspace.cleanup()
})

function plant(info: string, attributes: Record<string, unknown>[], published = false) {
  const result = misp.store.addEvent({info, Attribute: attributes, published})
  if (!result.ok) throw new Error(`planting ${info} failed: ${JSON.stringify(result.errors)}`)
  return result.value
}

function expectCleanExit(result: RunResult): void {
  expect(result.exitCode).toBe(0)
  expect(result.stderr).toBe('')
  expect(result.log.join('\n')).not.toMatch(/Traceback|internal error/)
}

function searchedValues(): unknown[] {
  return restSearchBodies(misp.requests).flatMap((body) => body.value as unknown[])
}

function sysmonAlert(eventId: string, eventdata: Record<string, unknown>): Alert {
  let alert = withField(processCreate, 'data.win.system.eventID', eventId)
  alert = withField(alert, 'data.win.eventdata', eventdata)
  return alert
}

describe('alerts without the expected fields', () => {
  const shapes: [string, Alert][] = [
    ['no data', {rule: {groups: ['windows', 'sysmon', 'sysmon_event3'], description: 'd'}, agent: {id: '001', name: 'agent'}}],
    ['no rule', {id: '1.1', data: {win: {system: {eventID: '22'}}}}],
    ['groups not a list', {rule: {groups: 'sysmon_event_22'}, data: {win: {eventdata: {queryName: 7}}}}],
    ['eventdata not an object', withField(dnsQuery, 'data.win.eventdata', 'queryName=x')],
    ['queryName missing', withField(dnsQuery, 'data.win.eventdata.queryName', undefined)],
    ['hashes is a number', withField(processCreate, 'data.win.eventdata.hashes', 12)],
    ['agent is a string', withField(dnsQuery, 'agent', 'win-agent-01')],
    ['an empty object', {}],
  ]

  for (const [name, alert] of shapes) {
    test(`handles ${name}`, async () => {
      const result = await runIntegration(workspace, alert)

      expectCleanExit(result)
      expect(searchedValues()).not.toContain('')
    })
  }

  test('skips a Sysmon event without hash fields (event 25)', async () => {
    const result = await runIntegration(workspace, sysmonAlert('25', {image: 'C:\\\\x.exe', type: 'Image is replaced'}))

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })

  test('logs a JSON array alert as invalid', async () => {
    const result = await runIntegration(workspace, null, {rawAlert: '[1, 2]'})

    expectCleanExit(result)
    expect(result.log.some((line) => line.includes('does not hold a JSON object'))).toBe(true)
  })

  test('logs a non-JSON alert file with the fix', async () => {
    const result = await runIntegration(workspace, null, {rawAlert: "alertdate='Dec 04' alertlog='x'"})

    expectCleanExit(result)
    expect(result.log.some((line) => line.includes('ERROR') && line.includes('<alert_format>json</alert_format>'))).toBe(true)
  })
})

describe('routing', () => {
  test('routes by event ID when groups come in another order', async () => {
    let alert = withField(processCreate, 'rule.groups', ['sysmon', 'sysmon_eid1_detections', 'windows'])
    alert = withField(alert, 'rule.id', '92000')
    plant('sample', [{type: 'md5', value: '60ff40cfd7fb8fe41ee4fe9ae5fe1c51'}])

    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.source).toMatchObject({rule_id: '92000'})
  })

  test('routes an alert with a single group and a numeric event ID', async () => {
    let alert = withField(processCreate, 'rule.groups', ['sysmon'])
    alert = withField(alert, 'data.win.system.eventID', 1)
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(searchedValues()).toContain('2198a7b58bccb758036b969ddae6cc2ece07565e2659a7c541a313a0492231a3')
  })

  test('ignores event ID 1 from a provider other than Sysmon', async () => {
    let alert = withField(processCreate, 'data.win.system.providerName', 'Microsoft-Windows-Security-Auditing')
    alert = withField(alert, 'data.win.system.channel', 'Security')
    alert = withField(alert, 'rule.groups', ['windows', 'windows_security'])
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })

  test('reads Hash of Sysmon event 15', async () => {
    const sha256 = 'a'.repeat(63) + 'b'
    plant('ads payload', [{type: 'sha256', value: sha256}])
    const alert = sysmonAlert('15', {targetFilename: 'C:\\\\x.txt:Zone.Identifier', hash: `SHA256=${sha256.toUpperCase()}`})

    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp).toMatchObject({ioc_field: 'data.win.eventdata.hash', ioc_type: 'sha256'})
  })

  test('skips FIM registry alerts quietly', async () => {
    const alert = {
      id: '1.2',
      rule: {id: '594', groups: ['ossec', 'syscheck', 'syscheck_entry_modified', 'syscheck_registry_value']},
      syscheck: {path: 'HKEY_LOCAL_MACHINE\\System', value_name: 'x', event: 'modified', sha256_after: 'c'.repeat(64)},
    }
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })

  test('skips FIM deleted alerts', async () => {
    const alert = withField(loadAlert('docs-syscheck-554-file-added.alert.json'), 'syscheck.event', 'deleted')
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })

  test('skips its own result alerts', async () => {
    const own = {
      id: '1.3',
      rule: {id: '100622', groups: ['misp', 'misp_alert']},
      decoder: {name: 'json'},
      data: {integration: 'misp', misp: {value: 'akamaized.net', win: {eventdata: {queryName: 'akamaized.net'}}}},
      location: 'misp',
    }
    const result = await runIntegration(workspace, own)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })

  test('skips an alert from the result location of an agent', async () => {
    let alert = withField(dnsQuery, 'location', '[001] (win-agent-01) 192.0.2.10->misp')
    alert = withField(alert, 'rule.groups', ['windows', 'sysmon', 'sysmon_event_22'])
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })
})

describe('hashes', () => {
  test('parses a list without SHA256 in any order and case', async () => {
    const alert = withField(processCreate, 'data.win.eventdata.hashes', 'imphash=B71CB3AC5C352BEC857C940CBC95F0F3,Md5=60FF40CFD7FB8FE41EE4FE9AE5FE1C51')
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['60ff40cfd7fb8fe41ee4fe9ae5fe1c51', 'b71cb3ac5c352bec857c940cbc95f0f3'])
    const [body] = restSearchBodies(misp.requests)
    expect(body?.type).toEqual(expect.arrayContaining(['md5', 'imphash', 'filename|md5', 'filename|imphash']))
    expect(body?.type).not.toContain('sha256')
  })

  test('drops invalid and all-zero hashes', async () => {
    const alert = withField(processCreate, 'data.win.eventdata.hashes', 'SHA256=XYZ,SHA1=,MD5=123,IMPHASH=00000000000000000000000000000000')
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(misp.requests).toHaveLength(0)
  })
})

describe('addresses', () => {
  test('compresses an uncompressed IPv6 destination', async () => {
    plant('v6 c2', [{type: 'ip-dst', value: '2a00:1450:4001:829::200e'}])
    let alert = withField(networkConnect, 'data.win.eventdata.destinationIp', '2a00:1450:4001:0829:0000:0000:0000:200e')
    alert = withField(alert, 'data.win.eventdata.destinationIsIpv6', 'true')

    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['2a00:1450:4001:829::200e'])
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp).toMatchObject({ioc: '2a00:1450:4001:0829:0000:0000:0000:200e', value: '2a00:1450:4001:829::200e'})
  })

  const neverLookedUp = [
    '239.255.255.250', '224.0.0.251', '255.255.255.255', '0.0.0.0', '127.0.0.1', '169.254.10.1', '100.64.0.1',
    '10.1.2.3', '192.0.2.1', 'ff02:0000:0000:0000:0000:0000:0001:0003', 'fe80::1', '::1', 'fd00::1', '::ffff:192.168.1.1',
    'not-an-ip', '',
  ]
  for (const address of neverLookedUp) {
    test(`never looks up ${address || 'an empty address'}`, async () => {
      const result = await runIntegration(workspace, withField(networkConnect, 'data.win.eventdata.destinationIp', address))

      expectCleanExit(result)
      expect(misp.requests).toHaveLength(0)
    })
  }

  test('looks up the source of an inbound connection', async () => {
    let alert = withField(networkConnect, 'data.win.eventdata.initiated', 'false')
    alert = withField(alert, 'data.win.eventdata.sourceIp', '45.33.32.156')
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['45.33.32.156'])
  })

  test('looks up the destination hostname of a connection', async () => {
    let alert = withField(networkConnect, 'data.win.eventdata.destinationHostname', 'C2.Evil-Harness.example')
    alert = withField(alert, 'data.win.eventdata.destinationIp', '45.33.32.157')
    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['45.33.32.157', 'c2.evil-harness.example', 'evil-harness.example'])
  })
})

describe('domains', () => {
  const neverLookedUp = ['', '-', 'intranet', 'wpad', 'wpad.corp.example.com', 'printer.local', 'nas.localdomain', '1.0.168.192.in-addr.arpa', 'co.uk', 'bad..example', '-x.example', 'a b.example']
  for (const name of neverLookedUp) {
    test(`never looks up ${JSON.stringify(name)}`, async () => {
      plant('would match an unfiltered search', [{type: 'domain', value: 'everything.example'}])
      const result = await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: name}))

      expectCleanExit(result)
      expect(misp.requests).toHaveLength(0)
      expect(queue.messages).toHaveLength(0)
    })
  }

  test('normalises case, trailing dot and IDN', async () => {
    const result = await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'Bücher.Example.'}))

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['xn--bcher-kva.example'])
  })

  test('stops parent lookups at the registrable domain', async () => {
    const result = await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'a.b.evil.co.uk'}))

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['a.b.evil.co.uk', 'b.evil.co.uk', 'evil.co.uk'])
  })

  test('looks up only the name when parent_domains is off', async () => {
    workspace.configure({parent_domains: false})
    const result = await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'a.b.evil.example'}))

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['a.b.evil.example'])
  })

  test('matches a parent domain but not a parent hostname', async () => {
    plant('host', [{type: 'hostname', value: 'host-harness.example'}])
    plant('domain', [{type: 'domain', value: 'domain-harness.example'}])

    await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'a.host-harness.example'}))
    await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'a.domain-harness.example'}))
    await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: 'host-harness.example'}))

    const messages = await queue.waitForMessages(2)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(2)
    expect(messages.map((message) => `${payloadOf(message).misp.ioc}=${payloadOf(message).misp.matched_value}`)).toEqual([
      'a.domain-harness.example=domain-harness.example',
      'host-harness.example=host-harness.example',
    ])
  })

  test('keeps line breaks in alert values out of the log', async () => {
    const alert = withField(withField(dnsQuery, 'id', '1.2\nFORGED: line'), 'data.win.eventdata', {queryName: 'x\r\ny.example'})

    const result = await runIntegration(workspace, alert)

    expectCleanExit(result)
    expect(result.log.every((line) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d custom-misp: /.test(line))).toBe(true)
  })

  test('treats an IP literal query as an address', async () => {
    const result = await runIntegration(workspace, withField(dnsQuery, 'data.win.eventdata', {queryName: '45.33.32.158'}))

    expectCleanExit(result)
    expect(searchedValues()).toEqual(['45.33.32.158'])
  })
})

describe('MISP answers', () => {
  function answerWith(attributes: Record<string, unknown>[]): void {
    misp.faults.set({fixedStatus: {code: 200, body: JSON.stringify({response: {Attribute: attributes}})}})
  }

  const base = {id: '9', event_id: '9', category: 'Network activity', to_ids: true, deleted: false, Event: {id: '9', info: 'x'}}

  test('ignores attributes whose value differs from the IoC', async () => {
    answerWith([
      {...base, type: 'domain', value: 'unrelated.example'},
      {...base, type: 'domain', value: 'img-s-msn-com.akamaized.net.evil.example'},
      {...base, type: 'domain|ip', value: 'akamaized.net.x|1.1.1.1'},
      {...base, type: 'ip-dst', value: '181.30.131.4'},
      {...base, type: 'md5', value: 'akamaized.net'},
    ])
    const result = await runIntegration(workspace, dnsQuery)

    expectCleanExit(result)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(0)
  })

  test('ignores attributes that are not to_ids or are deleted', async () => {
    answerWith([
      {...base, id: '10', type: 'domain', value: 'akamaized.net', to_ids: false},
      {...base, id: '11', type: 'domain', value: 'akamaized.net', deleted: true},
      {...base, id: '12', type: 'ip-dst', value: '181.30.131.40'},
    ])
    const result = await runIntegration(workspace, dnsQuery)

    expectCleanExit(result)
    const messages = await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(1)
    expect(payloadOf(messages[0] as {payload: string}).misp.attribute_id).toBe('12')
  })

  test('reports each attribute once', async () => {
    answerWith([{...base, id: '13', type: 'domain|ip', value: 'akamaized.net|181.30.131.40'}])
    const result = await runIntegration(workspace, dnsQuery)

    expectCleanExit(result)
    await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(1)
  })

  test('lets a warninglist hide a value', async () => {
    plant('resolver', [{type: 'ip-dst', value: '181.30.131.40'}])
    misp.store.addWarninglist({name: 'List of known Akamai IP ranges', type: 'cidr', entries: ['181.30.131.0/24']})

    await runIntegration(workspace, dnsQuery)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(0)

    workspace.configure({enforce_warninglist: false})
    await runIntegration(workspace, dnsQuery)
    await queue.waitForMessages(1)
    expect(restSearchBodies(misp.requests)[1]).not.toHaveProperty('enforceWarninglist')
  })

  test('reports unpublished events unless published_only is set', async () => {
    plant('feed data', [{type: 'domain', value: 'akamaized.net'}], false)

    await runIntegration(workspace, dnsQuery)
    await queue.waitForMessages(1)

    queue.clear()
    workspace.configure({published_only: true, cache_enabled: false})
    await runIntegration(workspace, dnsQuery)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(0)
    expect(restSearchBodies(misp.requests)[1]?.published).toBe(1)
  })
})

describe('arguments', () => {
  test('accepts the Wazuh 4.7 argument list', async () => {
    const result = await runIntegration(workspace, dnsQuery, {args: ['', '', '', '', '> /dev/null 2>&1']})

    expectCleanExit(result)
    expect(restSearchBodies(misp.requests)).toHaveLength(1)
  })

  test('warns about an api_key in ossec.conf without logging it', async () => {
    const key = 'K'.repeat(40)
    const result = await runIntegration(workspace, dnsQuery, {args: [key, 'https://misp.example', '', '', '10', '3']})

    expectCleanExit(result)
    expect(result.log.some((line) => line.includes('WARNING') && line.includes('remove <api_key> from ossec.conf'))).toBe(true)
    expect(result.log.join('\n')).not.toContain(key)
    expect(misp.requests[0]?.hadAuthKey).toBe(true)
  })

  test('writes no debug lines without the debug argument', async () => {
    const result = await runIntegration(workspace, networkConnect, {args: ['', '', '', '', '10', '3', '> /dev/null 2>&1']})

    expectCleanExit(result)
    expect(result.log).toEqual([])
  })
})
