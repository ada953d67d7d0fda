/**
 * The config file: every missing, unknown or invalid setting gives one clear logged error, exit
 * status 0 and no traceback.
 */
import fs from 'node:fs'
import {afterEach, beforeEach, describe, expect, test} from 'vitest'
import {createWorkspace, loadAlert, runIntegration, type Workspace} from './harness.js'

let workspace: Workspace
const dnsQuery = loadAlert('sysmon-eid22-dns-query.alert.json')

beforeEach(() => {
  // No MISP and no queue: a valid config would fail at the lookup, which these tests never reach.
  workspace = createWorkspace({mispUrl: 'https://127.0.0.1:9', apiKey: 'a'.repeat(40), caFile: '/nonexistent/ca.pem', queueSocket: '/nonexistent/queue'})
})

afterEach(() => {
  workspace.cleanup()
})

function expectOneConfigError(lines: string[], fragment: string): void {
  const errors = lines.filter((line) => line.includes('ERROR'))
  expect(errors).toHaveLength(1)
  expect(errors[0]).toContain('alert 1630528834.5301')
  expect(errors[0]).toContain(fragment)
  expect(errors[0]).toContain('no lookup done')
}

describe('config file', () => {
  const invalid: [string, Record<string, unknown>, string][] = [
    ['an unknown setting', {verify_ssl: false}, "unknown setting 'verify_ssl'"],
    ['a missing misp_url', {misp_url: undefined}, "missing the required setting 'misp_url'"],
    ['an http URL', {misp_url: 'http://misp.example'}, 'expected an https:// URL'],
    ['a URL with a query', {misp_url: 'https://misp.example/?a=1'}, 'without query'],
    ['a short api_key', {api_key: 'abc'}, 'a MISP auth key of 40 letters and digits'],
    ['a string for a bool', {verify_tls: 'yes'}, "setting 'verify_tls' is invalid ('yes'); expected true or false"],
    ['a zero timeout', {total_timeout: 0}, 'a number of seconds above 0'],
    ['too many retries', {retries: 50}, 'a whole number from 0 to 10'],
    ['a relative path', {cache_dir: 'cache'}, 'expected an absolute path'],
    ['a fractional limit', {limit: 2.5}, 'expected a whole number'],
    ['skip_groups with an empty entry', {skip_groups: ['misp', '']}, 'a list of non-empty strings'],
  ]

  for (const [name, change, fragment] of invalid) {
    test(`logs ${name}`, async () => {
      workspace.configure(change)

      const result = await runIntegration(workspace, dnsQuery)

      expect(result.exitCode).toBe(0)
      expect(result.stderr).toBe('')
      expectOneConfigError(result.log, fragment)
    })
  }

  test('never logs the api_key value', async () => {
    const key = 'Secret-Key-Value-That-Is-Not-Valid-1234567'
    workspace.configure({api_key: key})

    const result = await runIntegration(workspace, dnsQuery)

    expectOneConfigError(result.log, "setting 'api_key' is invalid ('<hidden>')")
    expect(result.log.join('\n')).not.toContain(key)
  })

  test('logs invalid JSON to stderr when no log file is known', async () => {
    fs.writeFileSync(workspace.configFile, '{"misp_url": ')

    const result = await runIntegration(workspace, dnsQuery)

    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('is not valid JSON')
    expect(result.stderr).not.toContain('Traceback')
  })

  test('reads /var/ossec/etc/mispwazuh/misp.json by default', async () => {
    const result = await runIntegration(workspace, dnsQuery, {configFile: null})

    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('config file /var/ossec/etc/mispwazuh/misp.json not found')
    expect(result.stderr).not.toContain('Traceback')
  })

  test('logs a missing alert file', async () => {
    const alertPath = `${workspace.directory}/custom-misp-0-gone.alert`

    const result = await runIntegration(workspace, null, {alertPath})

    expect(result.exitCode).toBe(0)
    expect(result.stderr).toBe('')
    const errors = result.log.filter((line) => line.includes('ERROR'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`alert -: alert file ${alertPath} could not be read`)
  })
})
