/**
 * An existing MISP (`--misp-url` plus its admin key): the install steps are skipped, trust comes
 * from a CA file or a pinned self-signed certificate, and the rest runs against the MISP double.
 * The target is this machine (LocalTarget) with every path under a temporary directory.
 */
import {execFile, execFileSync} from 'node:child_process'
import {promisify} from 'node:util'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {certificateFingerprint, MispClient, MispTlsError} from '../../src/misp/client.js'
import {parseEnv} from '../../src/misp/env-file.js'
import type {MispOptionsInput} from '../../src/misp/options.js'
import {MispFacts, mispSteps} from '../../src/misp/steps.js'
import {mispStatus} from '../../src/misp/status.js'
import type {StepContext} from '../../src/plan/step.js'
import {LocalTarget} from '../../src/target/local-target.js'
import {Redactor} from '../../src/ui/redact.js'
import {RunLog} from '../../src/ui/run-log.js'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'
import type {TlsFixture} from '../support/tls.js'
import {nameForVerification} from '../../src/misp/existing.js'
import {runSteps} from './step-runner.js'

// The double runs in this process, so a command that calls it must not block the event loop.
const execFileAsync = promisify(execFile)

let misp: MispDouble
let scratch: string
const started: MispDouble[] = []

beforeAll(async () => {
  misp = await startMispDouble()
})

afterAll(async () => {
  await misp.stop()
})

afterEach(async () => {
  for (const double of started.splice(0)) await double.stop()
  if (scratch) fs.rmSync(scratch, {recursive: true, force: true})
})

function newScratch(): string {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-existing-'))
  return scratch
}

function options(double: MispDouble, directory: string, extra: Partial<MispOptionsInput> = {}): MispOptionsInput {
  return {
    serverName: '127.0.0.1',
    existingUrl: double.url,
    existingAdminKey: double.adminKey,
    configDir: path.join(directory, 'etc'),
    refreshScript: path.join(directory, 'sbin/mispwazuh-misp-refresh'),
    cronFile: path.join(directory, 'cron.d/mispwazuh-misp-refresh'),
    refreshLogFile: path.join(directory, 'log/misp-refresh.log'),
    feeds: ['CIRCL OSINT Feed', 'The Botvrij.eu Data'],
    ...extra,
  }
}

function context(redactor: Redactor, directory: string, facts = new Map<string, unknown>()): StepContext {
  return {target: new LocalTarget(), log: new RunLog(redactor, {directory: path.join(directory, 'logs'), command: 'setup'}), redactor, dryRun: false, facts, progress: () => {}}
}

/** Starts a double whose certificate is self-signed and names only misp.internal, as misp-docker's own names only localhost. */
async function selfSignedDouble(directory: string): Promise<MispDouble> {
  const keyFile = path.join(directory, 'self.key')
  const certFile = path.join(directory, 'self.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '30', '-subj', '/CN=misp.internal', '-addext', 'subjectAltName=DNS:misp.internal'], {stdio: 'ignore'})
  const certPem = fs.readFileSync(certFile, 'utf8')
  const keyPem = fs.readFileSync(keyFile, 'utf8')
  const tls: TlsFixture = {
    directory,
    ca: {certFile, keyFile, certPem, subject: '/CN=misp.internal'},
    otherCa: {certFile, keyFile, certPem, subject: '/CN=misp.internal'},
    server: {certFile, keyFile, certPem, keyPem, dnsNames: ['misp.internal'], ipAddresses: []},
    issue: () => Promise.reject(new Error('not needed')),
    cleanup: () => {},
  }
  const double = await startMispDouble({tls})
  started.push(double)
  return double
}

describe('existing MISP', () => {
  it('skips the install steps', () => {
    const ids = mispSteps(options(misp, '/tmp/unused', {existingCaPem: misp.tls.ca.certPem})).map((step) => step.id)
    expect(ids).toEqual(['misp.trust', 'misp.admin-key-file', 'misp.feeds', 'misp.warninglists', 'misp.wazuh-user', 'misp.refresh-job', 'misp.credentials'])
  })

  it('with a CA file converges, then changes nothing', async () => {
    const directory = newScratch()
    const redactor = new Redactor()
    const input = options(misp, directory, {existingCaPem: misp.tls.ca.certPem})
    const facts = new Map<string, unknown>()

    const first = await runSteps(mispSteps(input, {redactor}), context(redactor, directory, facts))
    for (const record of first) if (record.after) expect(`${record.id}: ${record.after.status}`).toBe(`${record.id}: ok`)
    const second = await runSteps(mispSteps(input, {redactor}), context(redactor, directory))
    for (const record of second) expect(`${record.id}: ${record.check.status}`).toBe(`${record.id}: ok`)

    const caFile = path.join(directory, 'etc/misp-ca.crt')
    expect(fs.readFileSync(caFile, 'utf8')).toBe(misp.tls.ca.certPem)
    expect(facts.get(MispFacts.url)).toBe(misp.url)
    expect(facts.get(MispFacts.caFile)).toBe(caFile)

    const adminKeyFile = path.join(directory, 'etc/misp-admin.key')
    expect(fs.readFileSync(adminKeyFile, 'utf8')).toBe(`${misp.adminKey}\n`)
    expect(fs.statSync(adminKeyFile).mode & 0o7777).toBe(0o600)

    const credentials = parseEnv(fs.readFileSync(path.join(directory, 'etc/misp-credentials'), 'utf8'))
    expect(credentials.get('MISP_URL')).toBe(misp.url)
    expect(credentials.get('MISP_ADMIN_PASSWORD')).toBe('(not managed by mispwazuh: existing MISP)')
    expect(credentials.has('MISP_DOCKER_ENV')).toBe(false)

    const refresh = (await execFileAsync('sh', [path.join(directory, 'sbin/mispwazuh-misp-refresh')], {encoding: 'utf8', timeout: 60_000})).stdout
    expect(refresh).toContain('feeds/cacheFeeds/all: {')
    expect(fs.readFileSync(path.join(directory, 'sbin/mispwazuh-misp-refresh'), 'utf8')).not.toContain('--connect-to')

    const wazuhKey = fs.readFileSync(path.join(directory, 'etc/misp-wazuh.key'), 'utf8').trim()
    const me = await new MispClient({url: misp.url, key: wazuhKey, ca: misp.tls.ca.certPem}).getCurrentUser()
    expect(me.User.email).toBe('wazuh@misp.local')

    const statusOptions = {configDir: path.join(directory, 'etc'), cronFile: path.join(directory, 'cron.d/mispwazuh-misp-refresh'), redactor, log: new RunLog(redactor, {command: 'status', disabled: true})}
    const healthy = await mispStatus(new LocalTarget(), statusOptions)
    expect(healthy.items.filter((item) => !item.ok)).toEqual([])
    fs.writeFileSync(path.join(directory, 'etc/misp-wazuh.key'), `${'Z'.repeat(40)}\n`)
    const broken = await mispStatus(new LocalTarget(), statusOptions)
    expect(broken.items.filter((item) => !item.ok).map((item) => item.title)).toEqual(['Wazuh auth key'])
    expect(broken.failed).toBe(1)

    const logs = fs.readdirSync(path.join(directory, 'logs')).map((file) => fs.readFileSync(path.join(directory, 'logs', file), 'utf8')).join('')
    expect(logs).not.toContain(misp.adminKey)
    expect(logs).not.toContain(wazuhKey)
  })

  it('status without setup names the missing file', async () => {
    const directory = newScratch()
    const redactor = new Redactor()
    const report = await mispStatus(new LocalTarget(), {configDir: path.join(directory, 'etc'), redactor, log: new RunLog(redactor, {command: 'status', disabled: true})})
    expect(report.failed).toBe(1)
    expect(report.items).toHaveLength(1)
    expect(report.items[0]!.found).toContain(`${path.join(directory, 'etc/misp-credentials')} does not exist`)
  })

  it('untrusted certificate names its fingerprint', async () => {
    const directory = newScratch()
    const redactor = new Redactor()
    const [trust] = mispSteps(options(misp, directory, {existingCaPem: misp.tls.otherCa.certPem}), {redactor})
    const fingerprint = certificateFingerprint(misp.tls.server.certPem)

    const error = await trust!.check(context(redactor, directory)).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispTlsError)
    expect((error as MispTlsError).fingerprint).toBe(fingerprint)
    expect((error as Error).message).toContain(fingerprint)
    expect(fs.existsSync(path.join(directory, 'etc/misp-ca.crt'))).toBe(false)
  })

  it('CA-signed certificate without CA file cannot be pinned', async () => {
    const directory = newScratch()
    const redactor = new Redactor()
    const [trust] = mispSteps(options(misp, directory, {assumeYes: true}), {redactor})
    const error = await trust!.check(context(redactor, directory)).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispTlsError)
    expect((error as Error).message).toContain(certificateFingerprint(misp.tls.server.certPem))
    expect((error as Error).message).toContain('self-signed')
  })

  it('declined pin writes nothing', async () => {
    const directory = newScratch()
    const double = await selfSignedDouble(directory)
    const redactor = new Redactor()
    const questions: string[] = []
    const [trust] = mispSteps(options(double, directory, {confirmPin: async (question) => (questions.push(question), false)}), {redactor})
    const run = context(redactor, directory)
    const fingerprint = certificateFingerprint(double.tls.server.certPem)

    const check = await trust!.check(run)
    expect(check.status).toBe('change')
    expect(check.reason).toContain(fingerprint)
    const error = await trust!.apply(run, check).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MispTlsError)
    expect((error as Error).message).toContain(fingerprint)
    expect(questions).toHaveLength(1)
    expect(questions[0]).toContain(fingerprint)
    expect(fs.existsSync(path.join(directory, 'etc/misp-ca.crt'))).toBe(false)
  })

  it('accepted pin converges, then changes nothing', async () => {
    const directory = newScratch()
    const double = await selfSignedDouble(directory)
    const redactor = new Redactor()
    const input = options(double, directory, {confirmPin: async () => true})
    const facts = new Map<string, unknown>()
    const fingerprint = certificateFingerprint(double.tls.server.certPem)

    const first = await runSteps(mispSteps(input, {redactor}), context(redactor, directory, facts))
    for (const record of first) if (record.after) expect(`${record.id}: ${record.after.status}`).toBe(`${record.id}: ok`)
    expect(facts.get(MispFacts.pinnedFingerprint)).toBe(fingerprint)
    expect(fs.readFileSync(path.join(directory, 'etc/misp-ca.crt'), 'utf8')).toBe(double.tls.server.certPem)

    const credentials = parseEnv(fs.readFileSync(path.join(directory, 'etc/misp-credentials'), 'utf8'))
    expect(credentials.get('MISP_PINNED_SHA256')).toBe(fingerprint)
    expect(credentials.get('MISP_TLS_SERVER_NAME')).toBe('misp.internal')
    expect(facts.get(MispFacts.tlsServerName)).toBe('misp.internal')

    // The certificate names only misp.internal, yet the refresh job verifies it and reaches 127.0.0.1.
    const before = feedStateOf(double.store).calls.fetchFromAllFeeds
    const output = (await execFileAsync('sh', [path.join(directory, 'sbin/mispwazuh-misp-refresh')], {encoding: 'utf8', timeout: 60_000})).stdout
    expect(output).toContain('Pull queued for background execution.')
    expect(feedStateOf(double.store).calls.fetchFromAllFeeds).toBe(before + 1)

    const second = await runSteps(mispSteps({...input, confirmPin: async () => false}, {redactor}), context(redactor, directory))
    for (const record of second) expect(`${record.id}: ${record.check.status}`).toBe(`${record.id}: ok`)
  })
})

describe('nameForVerification', () => {
  it.each([
    ['127.0.0.1', 'DNS:localhost, IP Address:127.0.0.1', undefined],
    ['10.0.0.5', 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1', 'localhost'],
    ['misp.example.org', 'DNS:*.example.org', undefined],
    ['a.b.example.org', 'DNS:*.example.org, DNS:misp.internal', 'misp.internal'],
    ['misp.example.org', 'IP Address:192.0.2.1', '192.0.2.1'],
  ])('%s with %s', (host, subjectAltName, expected) => {
    expect(nameForVerification(host, {subjectAltName})).toBe(expected)
  })
})
