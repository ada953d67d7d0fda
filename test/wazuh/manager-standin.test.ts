/**
 * `wazuh configure` over SSH on the Debian test server, against the Wazuh manager stand-in laid
 * out by the installer stand-in. Its wazuh-analysisd -t and wazuh-integratord -t read the
 * written files with their own parser and rule loader, and its manager turns queue messages into
 * alerts with the installed rules, so this shows the managed rules load and fire.
 */

import {describe, expect, it} from 'vitest'

import {buildSelftestEvent} from '../../src/wazuh/selftest.js'
import {hostFlags, runCli} from '../support/cli.js'
import {freePort, useTestServer} from '../support/test-server.js'
import {installWazuhStandins, runWazuhInstaller, sendQueueMessage, sysmonDnsQueryMessage, waitForAlert, wazuhControl} from '../support/wazuh/standins.js'

const getServer = useTestServer()

describe('wazuh configure on the manager stand-in', () => {
  let stockConf = ''

  it('applies over SSH and validates', async () => {
    const server = getServer()
    await installWazuhStandins(server, {apiPort: await freePort()})
    const install = await runWazuhInstaller(server, {args: ['-a', '-p', String(await freePort())]})
    expect(install.exitCode, install.stdout + install.stderr).toBe(0)
    stockConf = await server.readFile('/var/ossec/etc/ossec.conf')

    const result = await runCli(['wazuh', 'configure', ...hostFlags(server)])
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain('Applied: ')

    const again = await runCli(['wazuh', 'configure', ...hostFlags(server)])
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toMatch(/^Unchanged: /m)

    const stat = await server.exec(['stat', '-c', '%U:%G %a', '/var/ossec/etc/ossec.conf', '/var/ossec/etc/rules/local_rules.xml', '/var/ossec/etc/rules/misp.xml'])
    expect(stat.stdout.trim().split('\n')).toEqual(['root:wazuh 660', 'wazuh:wazuh 660', 'wazuh:wazuh 660'])
  })

  it('self-test event raises the self-test alert', async () => {
    const server = getServer()
    const restart = await wazuhControl(server, 'restart')
    expect(restart.exitCode, restart.stdout + restart.stderr).toBe(0)

    await sendQueueMessage(server, buildSelftestEvent('canary-7f3a.example'))
    const alert = await waitForAlert(server, (candidate) => candidate.location === 'mispwazuh-selftest')
    expect(alert.rule.id).toBe('100600')
    expect(alert.rule.groups).toContain('mispwazuh_selftest')
    expect(alert.rule.level).toBe(3)
    expect((alert.data as {mispwazuh: {canary_domain: string}}).mispwazuh.canary_domain).toBe('canary-7f3a.example')
  })

  it('Sysmon DNS query reaches alerts.json', async () => {
    const server = getServer()
    await sendQueueMessage(server, sysmonDnsQueryMessage({queryName: 'lookup-9c1d.example'}))
    const alert = await waitForAlert(server, (candidate) => JSON.stringify(candidate.data ?? {}).includes('lookup-9c1d.example'))
    expect(alert.rule.id).toBe('61650')
    expect(alert.rule.level).toBe(3)
    expect(alert.rule.groups).toEqual(['windows', 'sysmon', 'sysmon_event_22'])
  })

  it('rollback restores the stock ossec.conf', async () => {
    const server = getServer()
    const result = await runCli(['wazuh', 'rollback', ...hostFlags(server)])
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(await server.readFile('/var/ossec/etc/ossec.conf')).toBe(stockConf)
    expect((await server.exec(['test', '-e', '/var/ossec/etc/rules/misp.xml'])).exitCode).toBe(1)
  })
})
