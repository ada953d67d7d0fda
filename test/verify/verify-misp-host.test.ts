/**
 * verify after setup with MISP on a second host (--misp-host): the MISP keys, CA and credentials
 * file live on the MISP host, the integration on the Wazuh host, and verify reads each on its
 * own host.
 */
import {afterAll, beforeAll, expect, it} from 'vitest'

import {installDockerStandin, type DockerStandin} from '../support/docker-standin/index.js'
import {runCli} from '../support/cli.js'
import {freePort, serveMispDockerRepository, shareClientKey} from '../support/setup-lab.js'
import {useTestServer} from '../support/test-server.js'
import {installWazuhStandins} from '../support/wazuh/standins.js'
import type {VerifyJson} from './chain.js'

const wazuhHost = useTestServer()
const mispHost = useTestServer()
let docker: DockerStandin
let connection: string[]

beforeAll(async () => {
  docker = await installDockerStandin(mispHost(), {loadingRequests: 1})
  await installWazuhStandins(wazuhHost(), {apiPort: await freePort()})

  const knownHosts = await shareClientKey(wazuhHost(), mispHost())
  const commit = serveMispDockerRepository(mispHost())

  connection = ['--host', `root@127.0.0.1:${wazuhHost().port}`, '--identity', wazuhHost().identityFile, '--known-hosts', knownHosts]
  const setup = await runCli([
    'setup', ...connection,
    '--misp-host', `root@127.0.0.1:${mispHost().port}`,
    '--misp-docker-repo', '/srv/misp-docker.git',
    '--misp-docker-commit', commit,
    '--misp-http-port', String(await freePort()),
    '--misp-https-port', String(await freePort()),
    '--wazuh-dashboard-port', String(await freePort()),
    '--yes',
  ], {timeoutMs: 600_000})
  expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0)
}, 900_000)

afterAll(async () => {
  await docker?.stop()
})

it('passes with --misp-host', async () => {
  const result = await runCli(['verify', ...connection, '--misp-host', `root@127.0.0.1:${mispHost().port}`, '--json', '--canary-timeout', '30'])
  const report = JSON.parse(result.stdout) as VerifyJson
  expect(report.hops.filter((hop) => hop.status !== 'pass').map((hop) => `${hop.id}: ${hop.found}`)).toEqual([])
  expect(result.exitCode).toBe(0)
  expect(report.hops.find((hop) => hop.id === 'canary.cleanup')?.found).toMatch(/^Canary event \d+ deleted/)
}, 300_000)

it('fails the canary without --misp-host', async () => {
  const result = await runCli(['verify', ...connection, '--json', '--canary-timeout', '10'])
  expect(result.exitCode).toBe(1)
  const report = JSON.parse(result.stdout) as VerifyJson
  const reachable = report.hops.find((hop) => hop.id === 'misp.reachable')
  expect(reachable?.status).toBe('pass')
  expect(reachable?.notes.join(' ')).toMatch(/If setup installed MISP on another host, run verify with --misp-host\./)
  expect(report.hops.find((hop) => hop.id === 'misp.feeds')?.status).toBe('skip')
  const canary = report.hops.find((hop) => hop.id === 'canary.misp')
  expect(canary?.status).toBe('fail')
  expect(canary?.found).toMatch(/\/etc\/mispwazuh\/misp-admin\.key does not exist on root@127\.0\.0\.1:\d+/)
  expect(canary?.fix).toMatch(/run verify with the same --misp-host/)
  expect(report.hops.find((hop) => hop.id === 'canary.selftest')?.status).toBe('skip')

  const hopsOnly = await runCli(['verify', ...connection, '--no-canary'])
  expect(hopsOnly.exitCode).toBe(0)
  expect(hopsOnly.stdout).toMatch(/^Verdict: PASS \(11 passed, 0 failed, 2 skipped\)\. Every hop checked passes\.$/m)
}, 300_000)
