/**
 * setup with MISP on a second host (--misp-host): MISP, its CA and the Wazuh user's key on one
 * test server, Wazuh and the integration on another, both reached over SSH with one key and
 * one known_hosts file.
 */

import {afterAll, beforeAll, expect, it} from 'vitest'

import {installDockerStandin, type DockerStandin} from '../support/docker-standin/index.js'
import {runCli, type CliResult} from '../support/cli.js'
import {freePort, serveMispDockerRepository, shareClientKey} from '../support/setup-lab.js'
import {useTestServer} from '../support/test-server.js'
import {installWazuhStandins} from '../support/wazuh/standins.js'

const wazuhHost = useTestServer()
const mispHost = useTestServer()
let docker: DockerStandin
let knownHosts: string
let flags: string[]
let first: CliResult
let second: CliResult

beforeAll(async () => {
  docker = await installDockerStandin(mispHost(), {loadingRequests: 1})
  await installWazuhStandins(wazuhHost())

  knownHosts = await shareClientKey(wazuhHost(), mispHost())
  const commit = serveMispDockerRepository(mispHost())

  flags = [
    'setup',
    '--host', `root@127.0.0.1:${wazuhHost().port}`,
    '--misp-host', `root@127.0.0.1:${mispHost().port}`,
    '--identity', wazuhHost().identityFile,
    '--known-hosts', knownHosts,
    '--misp-docker-repo', '/srv/misp-docker.git',
    '--misp-docker-commit', commit,
    '--misp-http-port', String(await freePort()),
    '--misp-https-port', String(await freePort()),
    '--wazuh-dashboard-port', String(await freePort()),
    '--yes',
  ]
  first = await runCli(flags)
  second = await runCli(flags)
}, 600_000)

afterAll(async () => {
  await docker?.stop()
})

it('installs MISP on the second host only', async () => {
  expect(first.exitCode, first.stdout).toBe(0)
  expect((await mispHost().exec(['test', '-f', '/opt/misp-docker/.env'])).exitCode).toBe(0)
  expect((await wazuhHost().exec(['test', '-e', '/opt/misp-docker'])).exitCode).toBe(1)
  expect((await mispHost().exec(['test', '-e', '/var/ossec'])).exitCode).toBe(1)
  expect(first.stdout).toMatch(new RegExp(`Start MISP and wait until it \\w+ \\(on root@127\\.0\\.0\\.1:${mispHost().port}\\)`))
})

it('wires the integration to the second host', async () => {
  const config = JSON.parse(await wazuhHost().readFile('/var/ossec/etc/mispwazuh/misp.json'))
  expect(config.api_key).toBe((await mispHost().readFile('/etc/mispwazuh/misp-wazuh.key')).trim())
  expect(config.misp_url).toBe(`https://127.0.0.1:${docker.starts.at(-1)?.port}`)
  expect(await wazuhHost().readFile('/var/ossec/etc/mispwazuh/misp-ca.crt')).toBe(await mispHost().readFile('/etc/mispwazuh/misp-ca.crt'))
})

it('changes nothing on a second run', () => {
  expect(second.exitCode, second.stdout).toBe(0)
  expect(second.stdout).toMatch(/^0 changed, 16 ok, 0 skipped\.$/m)
})
