/**
 * MISP steps on this machine (LocalTarget), each with its paths under a temporary directory.
 */
import {execFileSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {compareVersions, dockerEngineStep, dockerIsSufficient} from '../../src/misp/docker-engine.js'
import {parseEnv} from '../../src/misp/env-file.js'
import {mispDockerEnvStep, mispDockerSourceStep} from '../../src/misp/misp-docker.js'
import {mispPaths, withDefaults, type MispOptionsInput} from '../../src/misp/options.js'
import {generateSecret, MispRunState} from '../../src/misp/run-state.js'
import {certificateNames, mispTlsStep} from '../../src/misp/tls.js'
import {mispStartStep} from '../../src/misp/start.js'
import {MispwazuhError} from '../../src/errors.js'
import type {StepContext} from '../../src/plan/step.js'
import {LocalTarget} from '../../src/target/local-target.js'
import {Redactor} from '../../src/ui/redact.js'
import {RunLog} from '../../src/ui/run-log.js'

let scratch: string
let redactor: Redactor

beforeEach(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-misp-steps-'))
  redactor = new Redactor()
})

afterEach(() => {
  fs.rmSync(scratch, {recursive: true, force: true})
})

function state(extra: Partial<MispOptionsInput> = {}): MispRunState {
  const options = withDefaults({serverName: 'misp.example.org', installDir: path.join(scratch, 'misp-docker'), configDir: path.join(scratch, 'etc'), ...extra})
  return new MispRunState(options, mispPaths(options))
}

function context(): StepContext {
  return {target: new LocalTarget(), log: new RunLog(redactor, {command: 'test', disabled: true}), redactor, dryRun: false, facts: new Map(), progress: () => {}}
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o7777
}

describe('generateSecret', () => {
  it('makes letters and digits of each class', () => {
    for (let round = 0; round < 20; round++) {
      const secret = generateSecret(40)
      expect(secret).toMatch(/^[A-Za-z0-9]{40}$/)
      expect(secret).toMatch(/[A-Z]/)
      expect(secret).toMatch(/[a-z]/)
      expect(secret).toMatch(/\d/)
    }
  })

  it('differs between calls', () => {
    expect(generateSecret(32)).not.toBe(generateSecret(32))
  })
})

describe('Docker versions', () => {
  it('compares numerically', () => {
    expect(compareVersions('27.3.1', '25.0.0')).toBeGreaterThan(0)
    expect(compareVersions('v2.17.0', '2.17.0')).toBe(0)
    expect(compareVersions('2.9.0', '2.17.0')).toBeLessThan(0)
    expect(compareVersions('24.0.7+dfsg1', '25.0.0')).toBeLessThan(0)
  })

  it('needs engine 25 and compose 2.17', () => {
    expect(dockerIsSufficient({engine: '25.0.0', compose: '2.17.0'})).toBe(true)
    expect(dockerIsSufficient({engine: '24.0.7', compose: '2.29.0'})).toBe(false)
    expect(dockerIsSufficient({engine: '27.0.0', compose: '2.16.9'})).toBe(false)
    expect(dockerIsSufficient({engine: '27.0.0', compose: undefined})).toBe(false)
  })

  it('plans the install for an old engine', async () => {
    const bin = path.join(scratch, 'bin')
    fs.mkdirSync(bin)
    fs.writeFileSync(path.join(bin, 'docker'), '#!/bin/sh\ncase "$*" in\n  "version --format"*) echo 24.0.7 ;;\n  "compose version --short") echo 2.20.2 ;;\nesac\n', {mode: 0o755})
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath}`
    try {
      const check = await dockerEngineStep().check(context())
      expect(check.status).toBe('change')
      expect(check.reason).toContain('Docker Engine 24.0.7')
      expect(check.changes.map((change) => change.summary).join('\n')).toContain('docker-ce, docker-ce-cli, containerd.io, docker-buildx-plugin, docker-compose-plugin')
    } finally {
      process.env.PATH = savedPath
    }
  })
})

describe('TLS step', () => {
  it('names every address and localhost', () => {
    expect(certificateNames('misp.example.org', ['192.0.2.10', 'MISP.example.org'])).toEqual({dns: ['localhost', 'misp.example.org'], ip: ['127.0.0.1', '192.0.2.10', '::1']})
  })

  it('creates CA and certificate, then is ok', async () => {
    const run = state({extraNames: ['192.0.2.10']})
    const step = mispTlsStep(run)
    const first = await step.check(context())
    expect(first.status).toBe('change')
    await step.apply(context(), first)
    expect((await step.check(context())).status).toBe('ok')

    const cert = new X509Certificate(fs.readFileSync(run.paths.serverCertFile))
    const ca = new X509Certificate(fs.readFileSync(run.paths.caCertFile))
    expect(cert.checkIssued(ca)).toBe(true)
    expect(cert.subjectAltName).toContain('DNS:misp.example.org')
    expect(cert.subjectAltName).toContain('IP Address:192.0.2.10')
    expect(cert.subjectAltName).toContain('DNS:localhost')
    expect(cert.subjectAltName).toContain(`DNS:${os.hostname().toLowerCase()}`)
    expect(ca.ca).toBe(true)
    expect(mode(run.paths.caDir)).toBe(0o700)
    expect(mode(run.paths.caKeyFile)).toBe(0o600)
    expect(mode(run.paths.serverKeyFile)).toBe(0o600)
    expect(mode(run.paths.caCertFile)).toBe(0o644)
    expect(run.restartNeeded).toBe(true)
  })

  it('reissues for a new name, keeping the CA', async () => {
    const first = state()
    await mispTlsStep(first).apply(context(), await mispTlsStep(first).check(context()))
    const caBefore = fs.readFileSync(first.paths.caCertFile, 'utf8')

    const renamed = state({serverName: 'misp2.example.org'})
    const check = await mispTlsStep(renamed).check(context())
    expect(check.status).toBe('change')
    expect(check.reason).toContain('does not cover misp2.example.org')
    await mispTlsStep(renamed).apply(context(), check)
    expect(fs.readFileSync(renamed.paths.caCertFile, 'utf8')).toBe(caBefore)
    expect(new X509Certificate(fs.readFileSync(renamed.paths.serverCertFile)).subjectAltName).toContain('DNS:misp2.example.org')
  })

  it('fixes a readable server key', async () => {
    const run = state()
    await mispTlsStep(run).apply(context(), await mispTlsStep(run).check(context()))
    fs.chmodSync(run.paths.serverKeyFile, 0o644)
    const check = await mispTlsStep(run).check(context())
    expect(check.status).toBe('change')
    expect(check.reason).toContain('readable by others')
  })
})

describe('misp-docker source step', () => {
  function bareRepository(): {url: string; commits: string[]} {
    const work = path.join(scratch, 'upstream')
    fs.mkdirSync(work)
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {cwd: work, encoding: 'utf8'}).trim()
    git('init', '-q', '-b', 'main')
    fs.copyFileSync(path.resolve('test/fixtures/misp/misp-docker-template.env'), path.join(work, 'template.env'))
    git('add', '.')
    git('commit', '-q', '-m', 'one')
    const first = git('rev-parse', 'HEAD')
    fs.writeFileSync(path.join(work, 'README.md'), 'two\n')
    git('add', '.')
    git('commit', '-q', '-m', 'two')
    const second = git('rev-parse', 'HEAD')
    const url = path.join(scratch, 'upstream.git')
    execFileSync('git', ['clone', '-q', '--bare', work, url])
    return {url, commits: [first, second]}
  }

  it('clones at the pinned commit, then moves it', async () => {
    const {url, commits} = bareRepository()
    const first = state({repositoryUrl: url, commit: commits[0]})
    const step = mispDockerSourceStep(first)
    await step.apply(context(), await step.check(context()))
    expect((await step.check(context())).status).toBe('ok')
    const head = () => execFileSync('git', ['-C', first.options.installDir, 'rev-parse', 'HEAD'], {encoding: 'utf8'}).trim()
    expect(head()).toBe(commits[0])

    const moved = mispDockerSourceStep(state({repositoryUrl: url, commit: commits[1]}))
    const check = await moved.check(context())
    expect(check.status).toBe('change')
    await moved.apply(context(), check)
    expect(head()).toBe(commits[1])
  })

  it('rejects a directory that is not a checkout', async () => {
    const run = state()
    fs.mkdirSync(run.options.installDir)
    await expect(mispDockerSourceStep(run).check(context())).rejects.toThrow(/not a git checkout/)
  })
})

describe('.env step', () => {
  function prepared(extra: Partial<MispOptionsInput> = {}): MispRunState {
    const run = state(extra)
    fs.mkdirSync(run.options.installDir, {recursive: true})
    fs.copyFileSync(path.resolve('test/fixtures/misp/misp-docker-template.env'), path.join(run.options.installDir, 'template.env'))
    return run
  }

  it('writes .env from the template with a redacted diff', async () => {
    const run = prepared()
    const step = mispDockerEnvStep(run)
    const check = await step.check(context())
    const diff = check.changes[0]?.diff ?? ''
    const password = run.envValues!.get('ADMIN_PASSWORD')!
    const key = run.envValues!.get('ADMIN_KEY')!
    expect(check.status).toBe('change')
    expect(diff).toContain('+BASE_URL=https://misp.example.org:8443')
    expect(diff).toContain('[redacted')
    expect(diff).not.toContain(password)
    expect(diff).not.toContain(key)

    await step.apply(context(), check)
    expect(mode(run.paths.envFile)).toBe(0o600)
    const env = parseEnv(fs.readFileSync(run.paths.envFile, 'utf8'))
    expect(env.get('ADMIN_PASSWORD')).toBe(password)
    expect(env.get('CORE_HTTP_PORT')).toBe('8080')
    expect(env.get('NGINX_HTTPS_PORT')).toBe('8443')
    expect(env.get('DISABLE_CA_REFRESH')).toBe('true')
    expect((await mispDockerEnvStep(prepared()).check(context())).status).toBe('ok')
  })

  it('keeps generated secrets and user edits', async () => {
    const run = prepared()
    await mispDockerEnvStep(run).apply(context(), await mispDockerEnvStep(run).check(context()))
    const before = parseEnv(fs.readFileSync(run.paths.envFile, 'utf8'))
    fs.appendFileSync(run.paths.envFile, 'PHP_MEMORY_LIMIT=4096M\n')

    const again = prepared({httpsPort: 9443})
    const check = await mispDockerEnvStep(again).check(context())
    expect(check.changes[0]?.diff).toContain('+BASE_URL=https://misp.example.org:9443')
    await mispDockerEnvStep(again).apply(context(), check)
    const after = parseEnv(fs.readFileSync(run.paths.envFile, 'utf8'))
    expect(after.get('PHP_MEMORY_LIMIT')).toBe('4096M')
    for (const name of ['ADMIN_PASSWORD', 'ADMIN_KEY', 'MYSQL_PASSWORD', 'MYSQL_ROOT_PASSWORD', 'REDIS_PASSWORD']) expect(after.get(name)).toBe(before.get(name))
  })

  it('replaces weak defaults', async () => {
    const run = prepared()
    fs.writeFileSync(run.paths.envFile, 'CORE_TAG=v2.5.42\nADMIN_PASSWORD=admin\nMYSQL_PASSWORD=example\nADMIN_KEY=tooshort\n', {mode: 0o600})
    await mispDockerEnvStep(run).apply(context(), await mispDockerEnvStep(run).check(context()))
    const env = parseEnv(fs.readFileSync(run.paths.envFile, 'utf8'))
    expect(env.get('ADMIN_PASSWORD')).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(env.get('MYSQL_PASSWORD')).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(env.get('ADMIN_KEY')).toMatch(/^[A-Za-z0-9]{40}$/)
  })

  it('changed BASE_URL updates the cached config', async () => {
    const run = prepared()
    await mispDockerEnvStep(run).apply(context(), await mispDockerEnvStep(run).check(context()))
    const configFile = path.join(run.options.installDir, 'configs/config.php')
    fs.mkdirSync(path.dirname(configFile))
    fs.writeFileSync(configFile, "<?php\n$config = array('MISP' => array('baseurl' => 'https://misp.example.org:8443', 'external_baseurl' => 'https://misp.example.org:8443'), 'Security' => array('salt' => 'abc'));\n", {mode: 0o640})

    const moved = prepared({serverName: 'misp.internal.example'})
    const check = await mispDockerEnvStep(moved).check(context())
    expect(check.changes.map((change) => change.path)).toContain(configFile)
    await mispDockerEnvStep(moved).apply(context(), check)
    const config = fs.readFileSync(configFile, 'utf8')
    expect(config).not.toContain('https://misp.example.org:8443')
    expect(config.split('https://misp.internal.example:8443')).toHaveLength(3)
    expect(mode(configFile)).toBe(0o640)
    expect(moved.restartNeeded).toBe(true)
  })
})

describe('start step', () => {
  it('timeout shows the container log tail', async () => {
    const bin = path.join(scratch, 'bin')
    const calls = path.join(scratch, 'docker-calls')
    fs.mkdirSync(bin)
    fs.writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\necho "$*" >> ${calls}\ncase "$*" in\n  "compose logs"*) echo "misp-core  | INIT | Initialize MySQL"; echo "misp-core  | stuck at CA refresh" ;;\nesac\n`, {mode: 0o755})
    const run = state({startTimeoutSeconds: 1, httpsPort: 1})
    fs.mkdirSync(run.options.installDir, {recursive: true})
    run.envValues = new Map([['ADMIN_KEY', generateSecret(40)]])
    run.caPem = '-----BEGIN CERTIFICATE-----\nnot used: nothing listens\n-----END CERTIFICATE-----\n'
    const step = mispStartStep(run, {pollIntervalMs: 100})
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath}`
    try {
      const check = await step.check(context())
      expect(check.status).toBe('change')
      const error = await step.apply(context(), check).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(MispwazuhError)
      expect((error as MispwazuhError).code).toBe('misp_start_timeout')
      expect((error as Error).message).toContain('stuck at CA refresh')
      expect(fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean)).toEqual(['compose pull --quiet', 'compose up -d --no-build', 'compose logs --no-color --tail 40 misp-core'])
    } finally {
      process.env.PATH = savedPath
    }
  })
})
