/**
 * TLS: the configured CA is trusted and nothing else; turning verification off works but is
 * logged as a warning on every run.
 */
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, test} from 'vitest'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {startQueueListener, type QueueListener} from '../support/queue-listener.js'
import {createTlsFixture, type TlsFixture} from '../support/tls.js'
import {createWorkspace, loadAlert, payloadOf, restSearchBodies, runIntegration, type Workspace} from './harness.js'

let tls: TlsFixture
let misp: MispDouble
let queue: QueueListener
let workspace: Workspace

const dnsQuery = loadAlert('sysmon-eid22-dns-query.alert.json')

beforeAll(async () => {
  tls = await createTlsFixture()
  misp = await startMispDouble({tls})
  misp.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})
  queue = await startQueueListener()
})

afterAll(async () => {
  await queue.stop()
  await misp.stop()
  tls.cleanup()
})

beforeEach(() => {
  queue.clear()
  misp.requests.length = 0
  workspace = createWorkspace({mispUrl: misp.url, apiKey: misp.adminKey, caFile: tls.ca.certFile, queueSocket: queue.path, settings: {cache_enabled: false}})
})

afterEach(() => {
  workspace.cleanup()
})

describe('TLS', () => {
  test('trusts a server signed by the configured CA', async () => {
    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.value).toBe('akamaized.net')
    expect(result.log.some((line) => line.includes('WARNING'))).toBe(false)
  })

  test('rejects a server not signed by the configured CA', async () => {
    workspace.configure({ca_file: tls.otherCa.certFile})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.error).toBe('tls_verify_failed')
    expect(restSearchBodies(misp.requests)).toHaveLength(0)
    expect(result.log.some((line) => line.includes('reason=tls_verify_failed') && line.includes('certificate of 127.0.0.1'))).toBe(true)
  })

  test('rejects a certificate for another name', async () => {
    const otherName = await tls.issue({dnsNames: ['misp.example.test']})
    const misnamed = await startMispDouble({tls: {...tls, server: otherName}})
    try {
      workspace.configure({misp_url: misnamed.url})

      const result = await runIntegration(workspace, dnsQuery)

      expect(result.exitCode).toBe(0)
      const [message] = await queue.waitForMessages(1)
      expect(payloadOf(message as {payload: string}).misp.error).toBe('tls_verify_failed')
      expect(misnamed.requests).toHaveLength(0)
    } finally {
      await misnamed.stop()
    }
  })

  test('reports a CA file that cannot be loaded', async () => {
    workspace.configure({ca_file: `${workspace.directory}/missing-ca.pem`})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.error).toBe('tls_error')
    expect(result.log.some((line) => line.includes('missing-ca.pem could not be loaded'))).toBe(true)
  })

  test('reaches MISP at an IPv6 address', async () => {
    const overIpv6 = await startMispDouble({tls, host: '::1'})
    try {
      overIpv6.store.addEvent({info: 'planted', Attribute: [{type: 'domain', value: 'akamaized.net'}]})
      workspace.configure({misp_url: overIpv6.url, api_key: overIpv6.adminKey})

      const result = await runIntegration(workspace, dnsQuery)

      expect(overIpv6.url).toMatch(/^https:\/\/\[::1\]:\d+$/)
      expect(result.exitCode).toBe(0)
      const [message] = await queue.waitForMessages(1)
      expect(payloadOf(message as {payload: string}).misp).toMatchObject({value: 'akamaized.net'})
    } finally {
      await overIpv6.stop()
    }
  })

  test('keeps the path of misp_url', async () => {
    workspace.configure({misp_url: `${misp.url}/misp/`})

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    expect(misp.requests.map((request) => request.path)).toEqual(['/misp/attributes/restSearch'])
    const [message] = await queue.waitForMessages(1)
    expect(payloadOf(message as {payload: string}).misp.error).toBe('not_found')
  })

  test('warns on every run when verification is off', async () => {
    workspace.configure({ca_file: tls.otherCa.certFile, verify_tls: false})

    const first = await runIntegration(workspace, dnsQuery)
    const second = await runIntegration(workspace, dnsQuery)

    for (const result of [first, second]) {
      expect(result.exitCode).toBe(0)
      expect(result.log.filter((line) => line.includes('WARNING') && line.includes('TLS verification for') && line.includes('is off'))).toHaveLength(1)
    }
    const messages = await queue.waitForMessages(2)
    expect(messages.map((message) => payloadOf(message).misp.value)).toEqual(['akamaized.net', 'akamaized.net'])
  })
})
