/**
 * MISP failures: each ends with exit status 0 within the time budget, one error event per reason
 * per window across runs, and nothing cached that a later run would trust.
 */
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {startQueueListener, type QueueListener} from '../support/queue-listener.js'
import {createWorkspace, loadAlert, payloadOf, restSearchBodies, runIntegration, type Workspace} from './harness.js'

let misp: MispDouble
let queue: QueueListener
let workspace: Workspace

const dnsQuery = loadAlert('sysmon-eid22-dns-query.alert.json')

// Python start-up through a version manager shim takes up to a few seconds on a loaded 2-core
// machine, so the time budgets below add this margin to the configured total_timeout. The
// faults delay MISP by 10 s, so the bound still shows that the timeout cut the wait short.
const startupMarginMs = 4000

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
  misp.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})
  workspace = createWorkspace({
    mispUrl: misp.url,
    apiKey: misp.adminKey,
    caFile: misp.caFile,
    queueSocket: queue.path,
    settings: {connect_timeout: 1, read_timeout: 1, total_timeout: 2, retries: 1},
  })
})

afterEach(() => {
  misp.faults.clear()
  workspace.cleanup()
})

async function expectErrorEvent(reason: string, status?: string) {
  const [message] = await queue.waitForMessages(1)
  expect(message?.location).toBe('misp')
  const payload = payloadOf(message as {payload: string})
  expect(payload.integration).toBe('misp')
  expect(payload.misp.error).toBe(reason)
  expect(payload.misp).not.toHaveProperty('event_id')
  expect(payload.misp.source).toMatchObject({alert_id: '1630528834.5301', rule_id: '61650', agent_id: '001'})
  if (status === undefined) expect(payload.misp).not.toHaveProperty('http_status')
  else expect(payload.misp.http_status).toBe(status)
  return payload
}

const cases: {name: string; reason: string; status?: string; apply: () => void; attempts: number}[] = [
  {name: 'HTTP 500', reason: 'server_error', status: '500', attempts: 2, apply: () => misp.faults.set({fixedStatus: {code: 500, body: '{"name":"An Internal Error Has Occurred.","message":"An Internal Error Has Occurred.","url":"\\/attributes\\/restSearch"}'}})},
  {name: 'HTTP 429', reason: 'rate_limited', status: '429', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 429, body: '{"name":"Rate limit exceeded.","message":"Rate limit exceeded.","url":"\\/attributes\\/restSearch"}'}})},
  {name: 'HTTP 404', reason: 'not_found', status: '404', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 404, body: '{"name":"Not Found","message":"Not Found","url":"\\/attributes\\/restSearch"}'}})},
  {name: '403 with a validation body', reason: 'validation_failed', status: '403', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 403, body: '{"saved":false,"name":"Could not add Attribute","message":"Could not add Attribute","url":"/attributes/add","errors":{"value":["x"]}}'}})},
  {name: '403 permission denied', reason: 'forbidden', status: '403', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 403, body: '{"name":"You do not have permission to use this functionality.","message":"You do not have permission to use this functionality.","url":"\\/attributes\\/restSearch"}'}})},
  {name: 'an HTML login page', reason: 'html_response', status: '200', attempts: 1, apply: () => misp.faults.set({htmlLoginPage: true})},
  {name: 'invalid JSON', reason: 'invalid_json', status: '200', attempts: 1, apply: () => misp.faults.set({invalidJson: true})},
  {name: 'a huge answer', reason: 'response_too_large', status: '200', attempts: 1, apply: () => misp.faults.set({hugeResponseBytes: 300_000})},
  {name: 'a reset connection', reason: 'connection_failed', attempts: 2, apply: () => misp.faults.set({resetConnection: true})},
  {name: 'a JSON answer without response.Attribute', reason: 'unexpected_response', status: '200', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 200, body: '{"response": []}'}})},
  {name: 'a redirect', reason: 'unexpected_redirect', status: '302', attempts: 1, apply: () => misp.faults.set({fixedStatus: {code: 302, body: ''}})},
]

describe('MISP failures', () => {
  for (const failure of cases) {
    test(`maps ${failure.name} to ${failure.reason}`, async () => {
      failure.apply()
      workspace.configure({max_response_bytes: 100_000})

      const result = await runIntegration(workspace, dnsQuery)

      expect(result.exitCode).toBe(0)
      expect(result.stderr).toBe('')
      expect(result.durationMs).toBeLessThan(2000 + startupMarginMs)
      await expectErrorEvent(failure.reason, failure.status)
      expect(restSearchBodies(misp.requests)).toHaveLength(failure.attempts)
      expect(result.log.some((line) => line.includes(`ERROR: alert 1630528834.5301: MISP lookup failed: reason=${failure.reason}`))).toBe(true)
    })
  }

  test('maps a wrong auth key to auth_failed', async () => {
    workspace.configure({api_key: 'x'.repeat(40)})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    const payload = await expectErrorEvent('auth_failed', '403')
    expect(payload.misp.error_detail).toContain('Authentication failed')
    expect(result.log.join('\n')).not.toContain('x'.repeat(40))
  })

  test('maps a disabled auth key to auth_failed', async () => {
    const user = misp.store.addUser({email: 'wazuh@example.test', orgId: '1', roleId: '3'})
    const disabled = misp.store.addAuthKey(user.id, {disabled: true})
    workspace.configure({api_key: disabled.authkey})

    await runIntegration(workspace, dnsQuery)

    await expectErrorEvent('auth_failed', '403')
  })

  test('maps MISP being down to connection_failed', async () => {
    const stopped = await startMispDouble({tls: misp.tls})
    const url = stopped.url
    await stopped.stop()
    workspace.configure({misp_url: url})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    expect(result.durationMs).toBeLessThan(2000 + startupMarginMs)
    await expectErrorEvent('connection_failed')
    expect(result.log.filter((line) => line.includes('retry 1 of 1'))).toHaveLength(1)
  })

  test('gives up on a slow MISP within total_timeout', async () => {
    misp.faults.set({latencyMs: 10_000})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    expect(result.durationMs).toBeLessThan(2000 + startupMarginMs)
    await expectErrorEvent('timeout')
  })

  test('caps total_timeout with the timeout argument', async () => {
    misp.faults.set({latencyMs: 10_000})
    workspace.configure({total_timeout: 30, read_timeout: 30})

    const result = await runIntegration(workspace, dnsQuery, {args: ['', '', 'debug', '', '1', '0']})

    expect(result.exitCode).toBe(0)
    expect(result.durationMs).toBeLessThan(1000 + startupMarginMs)
    await expectErrorEvent('timeout')
  })

  test('retries while MISP is loading', async () => {
    misp.faults.set({loadingRequests: 1})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.value).toBe('akamaized.net')
    expect(restSearchBodies(misp.requests)).toHaveLength(2)
    expect(result.log.some((line) => line.includes('WARNING') && line.includes('MISP is still loading') && line.includes('retry 1 of 1'))).toBe(true)
  })
})

describe('error events', () => {
  test('sends one per reason per window across runs', async () => {
    misp.faults.set({fixedStatus: {code: 500, body: '{}'}})
    workspace.configure({retries: 0})

    await runIntegration(workspace, dnsQuery)
    const second = await runIntegration(workspace, dnsQuery)
    await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(queue.messages).toHaveLength(1)
    expect(second.log.some((line) => line.includes('reason=server_error') && line.includes('error event already sent within 300 s'))).toBe(true)

    misp.faults.set({fixedStatus: {code: 429, body: '{}'}})
    await runIntegration(workspace, dnsQuery)
    const messages = await queue.waitForMessages(2)
    expect(messages.map((message) => payloadOf(message).misp.error)).toEqual(['server_error', 'rate_limited'])
  })

  test('sends again after the window', async () => {
    misp.faults.set({fixedStatus: {code: 500, body: '{}'}})
    workspace.configure({retries: 0, error_interval: 1})

    await runIntegration(workspace, dnsQuery)
    await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await runIntegration(workspace, dnsQuery)

    const messages = await queue.waitForMessages(2)
    expect(messages).toHaveLength(2)
  })

  test('rate-limits runs that fail at the same moment', async () => {
    misp.faults.set({fixedStatus: {code: 500, body: '{}'}})
    workspace.configure({retries: 0})

    await Promise.all([1, 2, 3, 4].map(() => runIntegration(workspace, dnsQuery)))
    await queue.waitForMessages(1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(queue.messages).toHaveLength(1)
  })
})

describe('cache after failures', () => {
  test('caches nothing from a failed lookup', async () => {
    misp.faults.set({invalidJson: true})
    await runIntegration(workspace, dnsQuery)
    await expectErrorEvent('invalid_json', '200')

    misp.faults.clear()
    queue.clear()
    const result = await runIntegration(workspace, dnsQuery)

    expect(result.log.some((line) => line.includes('0 of 4 values cached'))).toBe(true)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.value).toBe('akamaized.net')
  })
})
