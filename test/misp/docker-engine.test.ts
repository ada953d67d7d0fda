/**
 * The Docker Engine step on the Debian test server over SSH: an old distribution docker.io is
 * replaced by Docker's packages from a signed apt repository laid out like download.docker.com,
 * served from the server's filesystem because the real one is not reachable here.
 */
import fs from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {dockerEngineStep} from '../../src/misp/docker-engine.js'
import type {StepCheck, StepContext} from '../../src/plan/step.js'
import {SshTarget} from '../../src/target/ssh-target.js'
import {Redactor} from '../../src/ui/redact.js'
import {RunLog} from '../../src/ui/run-log.js'
import {buildDockerAptRepository, installSystemctlStandin, localDockerRepositoryUrl} from '../support/docker-standin/apt-repo.js'
import {useTestServer} from '../support/test-server.js'

const server = useTestServer()

let target: SshTarget
let systemctlCalls: () => string[]
let before: StepCheck
let after: StepCheck
let second: StepCheck

function context(): StepContext {
  const redactor = new Redactor()
  return {target, log: new RunLog(redactor, {command: 'test', disabled: true}), redactor, dryRun: false, facts: new Map(), progress: () => {}}
}

beforeAll(async () => {
  const {dockerIoDeb} = buildDockerAptRepository(server())
  systemctlCalls = await installSystemctlStandin(server())
  const installed = await server().exec(['dpkg', '-i', dockerIoDeb])
  if (installed.exitCode !== 0) throw new Error(`dpkg -i docker.io failed: ${installed.stderr}`)

  target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'admin', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})
  const step = dockerEngineStep({repositoryUrl: localDockerRepositoryUrl})
  before = await step.check(context())
  await step.apply(context(), before)
  after = await step.check(context())
  second = await dockerEngineStep({repositoryUrl: localDockerRepositoryUrl}).check(context())
}, 600_000)

afterAll(async () => {
  await target?.close()
})

describe('Docker Engine step', () => {
  it('plans the install for docker.io 20.10', () => {
    expect(before.status).toBe('change')
    expect(before.reason).toBe('Docker Engine 20.10.24, no Compose plugin; misp-docker needs Engine >= 25 and Compose >= 2.17')
    expect(before.changes.map((change) => change.summary).join('\n')).toContain("add Docker's apt repository for debian bookworm")
  })

  it('converges to Docker 27 with Compose', () => {
    expect(after.status).toBe('ok')
    expect(after.reason).toBe('Docker Engine 27.3.1 and Compose 2.29.7 are installed')
    expect(second.status).toBe('ok')
  })

  it('removes the conflicting package', async () => {
    const status = await server().exec(['dpkg-query', '-W', '-f', '${db:Status-Status}', 'docker.io'])
    expect(status.stdout).not.toBe('installed')
  })

  it('installs every Docker package', async () => {
    for (const name of ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin']) {
      const status = await server().exec(['dpkg-query', '-W', '-f', '${db:Status-Status}', name])
      expect(`${name} ${status.stdout}`).toBe(`${name} installed`)
    }
  })

  it('adds the signed repository', async () => {
    const sources = await server().readFile('/etc/apt/sources.list.d/docker.list')
    expect(sources).toBe('deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] file:///srv/docker-repo/debian bookworm stable\n')
    const key = fs.statSync(server().pathOnHost('/etc/apt/keyrings/docker.asc'))
    expect(key.mode & 0o7777).toBe(0o644)
    expect(await server().readFile('/etc/apt/keyrings/docker.asc')).toContain('BEGIN PGP PUBLIC KEY BLOCK')
  })

  it('enables and starts the service', () => {
    expect(systemctlCalls()).toEqual(['enable --now docker'])
  })
})
