/**
 * The whole MISP part on the Debian test server over SSH (as the sudo user `admin`), with the
 * docker stand-in serving the MISP double on `docker compose up`: from nothing, then again with
 * no change, then checks that no secret reached the run log, the output, any command's argv or
 * any world-readable file.
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {StepContext} from '../../src/plan/step.js'
import {MispClient} from '../../src/misp/client.js'
import {DEFAULT_ENABLED_FEEDS} from '../../src/misp/default-feeds.js'
import {parseEnv} from '../../src/misp/env-file.js'
import {MispFacts, mispSteps} from '../../src/misp/steps.js'
import {mispStatus} from '../../src/misp/status.js'
import type {Target} from '../../src/target/target.js'
import {SshTarget} from '../../src/target/ssh-target.js'
import {Redactor} from '../../src/ui/redact.js'
import {RunLog} from '../../src/ui/run-log.js'
import {installDockerStandin, type DockerStandin} from '../support/docker-standin/index.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'
import {hostFlags, runCli} from '../support/cli.js'
import {serveMispDockerRepository} from '../support/setup-lab.js'
import {freePort, useTestServer} from '../support/test-server.js'
import {renderPlan, runSteps, type RunRecord} from './step-runner.js'

const server = useTestServer()

let standin: DockerStandin
let scratch: string
let commit: string
let httpsPort: number
let httpPort: number
let target: SshTarget
let commandLines: string[]
let output: string[]
let logDirectory: string
let redactor: Redactor
const facts = new Map<string, unknown>()
let firstRun: RunRecord[]
let secondRun: RunRecord[]
let dryRun: RunRecord[]

/** Wraps a target so that the argv of every command it runs is kept for the secret scan. */
function recording(inner: Target, argvLog: string[]): Target {
  return new Proxy(inner, {
    get(object, property, receiver) {
      if (property === 'exec') {
        return (argv: readonly string[], options?: unknown) => {
          argvLog.push(argv.join(' '))
          return (object.exec as (a: readonly string[], o?: unknown) => unknown).call(object, argv, options)
        }
      }

      const value = Reflect.get(object, property, receiver) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value
    },
  })
}

function context(dry: boolean): StepContext {
  return {
    target: recording(target, commandLines),
    log: new RunLog(redactor, {directory: logDirectory, command: 'setup'}),
    redactor,
    dryRun: dry,
    facts,
    progress: (message) => output.push(redactor.redact(message)),
  }
}

function steps() {
  return mispSteps(
    {serverName: '127.0.0.1', httpsPort, httpPort, repositoryUrl: '/srv/misp-docker.git', commit, startTimeoutSeconds: 120},
    {pollIntervalMs: 200, redactor},
  )
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-misp-setup-'))
  logDirectory = path.join(scratch, 'logs')
  httpsPort = await freePort()
  httpPort = await freePort()
  standin = await installDockerStandin(server())

  commit = serveMispDockerRepository(server())

  redactor = new Redactor()
  commandLines = []
  output = []
  target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'admin', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile}, new RunLog(redactor, {directory: logDirectory, command: 'setup-target'}))

  dryRun = await runSteps(steps(), context(true))
  firstRun = await runSteps(steps(), context(false))
  secondRun = await runSteps(steps(), context(false))
  if (process.env.MISPWAZUH_PLAN_FILE) fs.writeFileSync(process.env.MISPWAZUH_PLAN_FILE, renderPlan(dryRun))
}, 600_000)

afterAll(async () => {
  await target?.close()
  await standin?.stop()
  if (scratch) fs.rmSync(scratch, {recursive: true, force: true})
})

describe('MISP part on the test server', () => {
  it('dry run plans every step and changes nothing', async () => {
    expect(dryRun.map((record) => record.id)).toEqual([
      'misp.docker-engine', 'misp.misp-docker', 'misp.tls', 'misp.env', 'misp.admin-key-file', 'misp.start',
      'misp.feeds', 'misp.warninglists', 'misp.wazuh-user', 'misp.refresh-job', 'misp.credentials',
    ])
    expect(dryRun[0]!.check.status).toBe('ok')
    const envDiff = dryRun.find((record) => record.id === 'misp.env')!.check.changes[0]!.diff!
    expect(envDiff).toContain(`+BASE_URL=https://127.0.0.1:${httpsPort}`)
    expect(envDiff).toMatch(/\+ADMIN_KEY=\[redacted/)
    expect(envDiff).toMatch(/\+MYSQL_ROOT_PASSWORD=\[redacted/)
    expect(dryRun.slice(1).every((record) => record.check.status === 'change')).toBe(true)
  })

  it('first run converges every step', () => {
    for (const record of firstRun) {
      if (record.after) expect(`${record.id}: ${record.after.status} ${record.after.reason}`).toBe(`${record.id}: ok ${record.after.reason}`)
    }

    expect(firstRun.filter((record) => record.check.status === 'change').map((record) => record.id)).toContain('misp.start')
  })

  it('second run changes nothing', () => {
    for (const record of secondRun) expect(`${record.id}: ${record.check.status}`).toBe(`${record.id}: ok`)
    expect(secondRun.every((record) => record.after === undefined)).toBe(true)
  })

  it('starts MISP exactly once', () => {
    const ups = standin.calls().filter((line) => line.includes('\tcompose up'))
    expect(ups).toHaveLength(1)
    expect(ups[0]).toContain('cwd=/opt/misp-docker')
    expect(ups[0]).toContain('up -d --no-build')
    expect(standin.starts).toHaveLength(1)
  })

  it('writes .env with our values, root-only', async () => {
    const env = parseEnv(await server().readFile('/opt/misp-docker/.env'))
    const stat = fs.statSync(server().pathOnHost('/opt/misp-docker/.env'))
    expect(stat.mode & 0o7777).toBe(0o600)
    expect(stat.uid).toBe(0)
    expect(env.get('BASE_URL')).toBe(`https://127.0.0.1:${httpsPort}`)
    expect(env.get('CORE_HTTPS_PORT')).toBe(String(httpsPort))
    expect(env.get('NGINX_HTTPS_PORT')).toBe(String(httpsPort))
    expect(env.get('CORE_HTTP_PORT')).toBe(String(httpPort))
    expect(env.get('NGINX_HTTP_PORT')).toBe(String(httpPort))
    expect(env.get('ADMIN_EMAIL')).toBe('admin@misp.local')
    expect(env.get('ADMIN_KEY')).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(env.get('ADMIN_PASSWORD')).toMatch(/^[A-Za-z0-9]{32}$/)
    for (const name of ['MYSQL_PASSWORD', 'MYSQL_ROOT_PASSWORD', 'REDIS_PASSWORD']) expect(env.get(name)).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(env.get('DISABLE_PRINTING_PLAINTEXT_CREDENTIALS')).toBe('true')
    expect(env.get('CORE_TAG')).toBe('v2.5.42')
  })

  it('keeps a user edit of .env on re-run', async () => {
    const file = '/opt/misp-docker/.env'
    const before = await server().readFile(file)
    await server().writeFile(file, `${before}# my own note\nPHP_MEMORY_LIMIT=4096M\n`, {mode: 0o600})
    const records = await runSteps(steps().filter((step) => step.id === 'misp.env' || step.id === 'misp.misp-docker'), context(false))
    const after = await server().readFile(file)
    expect(records.every((record) => record.check.status === 'ok')).toBe(true)
    expect(after).toContain('PHP_MEMORY_LIMIT=4096M')
    expect(parseEnv(after).get('ADMIN_KEY')).toBe(parseEnv(before).get('ADMIN_KEY'))
  })

  it('serves MISP with the installed certificate and admin key', async () => {
    const env = parseEnv(await server().readFile('/opt/misp-docker/.env'))
    const ca = await server().readFile('/etc/mispwazuh/misp-ca.crt')
    const client = new MispClient({url: `https://127.0.0.1:${httpsPort}`, key: env.get('ADMIN_KEY')!, ca, retries: 0})
    const me = await client.getCurrentUser()
    expect(me.User.email).toBe('admin@misp.local')
    expect(standin.adminPassword).toBe(env.get('ADMIN_PASSWORD'))
  })

  it('enables the default feeds with caching', async () => {
    const feeds = [...feedStateOf(standin.store).feeds.values()].map((item) => item.Feed)
    const chosen = feeds.filter((feed) => DEFAULT_ENABLED_FEEDS.includes(feed.name as string))
    expect(feeds).toHaveLength(84)
    expect(chosen).toHaveLength(DEFAULT_ENABLED_FEEDS.length)
    expect(chosen.every((feed) => feed.enabled === true && feed.caching_enabled === true)).toBe(true)
    expect(feeds.filter((feed) => feed.enabled === true)).toHaveLength(DEFAULT_ENABLED_FEEDS.length)
    expect(feedStateOf(standin.store).calls.loadDefaultFeeds).toBe(1)
    expect(feedStateOf(standin.store).calls.fetchFromAllFeeds).toBe(1)
    expect(feedStateOf(standin.store).calls.cacheFeeds).toBe(1)
    expect(output).toContain(`${DEFAULT_ENABLED_FEEDS.length} feeds enabled with caching, ${DEFAULT_ENABLED_FEEDS.length} cached`)
  })

  it('enables every warninglist', () => {
    const lists = [...standin.store.warninglists.values()]
    expect(lists.length).toBeGreaterThan(0)
    expect(lists.every((list) => list.enabled)).toBe(true)
  })

  it('gives Wazuh its own read-only key', async () => {
    const key = (await server().readFile('/etc/mispwazuh/misp-wazuh.key')).trim()
    const stat = fs.statSync(server().pathOnHost('/etc/mispwazuh/misp-wazuh.key'))
    expect(stat.mode & 0o7777).toBe(0o600)
    const ca = await server().readFile('/etc/mispwazuh/misp-ca.crt')
    const client = new MispClient({url: `https://127.0.0.1:${httpsPort}`, key, ca, retries: 0})
    const me = await client.getCurrentUser()
    expect(me.User.email).toBe('wazuh@misp.local')
    expect(me.Role.name).toBe('mispwazuh-read')
    expect(me.Role.perm_add).not.toBe(true)
    expect(me.Role.perm_site_admin).not.toBe(true)
    const role = [...standin.store.roles.values()].find((item) => item.name === 'mispwazuh-read')!
    expect(Object.entries(role.permissions).filter(([, granted]) => granted).map(([name]) => name)).toEqual(['perm_auth'])
    expect(await client.searchAttributes({value: 'nothing.example', type: 'domain'})).toEqual([])
    const keys = [...standin.store.authKeys.values()].filter((item) => item.user_id === me.User.id)
    expect(keys).toHaveLength(1)
    expect(keys[0]!.comment).toContain('mispwazuh')
  })

  it('installs the cron entry exactly once, without a secret', async () => {
    const crontabs = execFileSync('sh', ['-c', 'cat etc/crontab etc/cron.d/* var/spool/cron/crontabs/* 2>/dev/null || true'], {cwd: server().rootfs, encoding: 'utf8'})
    const entries = crontabs.split('\n').filter((line) => line.includes('mispwazuh-misp-refresh') && !line.startsWith('#'))
    expect(entries).toEqual(['17 3 * * * root /usr/local/sbin/mispwazuh-misp-refresh >> /var/log/mispwazuh/misp-refresh.log 2>&1'])
    const script = await server().readFile('/usr/local/sbin/mispwazuh-misp-refresh')
    expect(script).toContain("key_file='/etc/mispwazuh/misp-admin.key'")
    expect(script).toContain('--cacert "$ca_file"')
    expect(script).not.toMatch(/--insecure|\s-k\s/)
  })

  it('refresh script fetches and caches over verified TLS', async () => {
    const before = feedStateOf(standin.store).calls.fetchFromAllFeeds
    const result = await server().exec(['/usr/local/sbin/mispwazuh-misp-refresh'])
    expect(result.stderr).toBe('')
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('Pull queued for background execution.')
    expect(feedStateOf(standin.store).calls.fetchFromAllFeeds).toBe(before + 1)
  })

  it('writes the credentials file, root-only', async () => {
    const text = await server().readFile('/etc/mispwazuh/misp-credentials')
    const env = parseEnv(await server().readFile('/opt/misp-docker/.env'))
    const stat = fs.statSync(server().pathOnHost('/etc/mispwazuh/misp-credentials'))
    expect(stat.mode & 0o7777).toBe(0o600)
    const values = parseEnv(text)
    expect(values.get('MISP_URL')).toBe(`https://127.0.0.1:${httpsPort}`)
    expect(values.get('MISP_ADMIN_EMAIL')).toBe('admin@misp.local')
    expect(values.get('MISP_ADMIN_PASSWORD')).toBe(env.get('ADMIN_PASSWORD'))
    expect(values.get('MISP_ADMIN_KEY_FILE')).toBe('/etc/mispwazuh/misp-admin.key')
    expect(values.get('MISP_WAZUH_KEY_FILE')).toBe('/etc/mispwazuh/misp-wazuh.key')
    expect(values.get('MISP_CA_FILE')).toBe('/etc/mispwazuh/misp-ca.crt')
  })

  it('publishes the MISP facts', () => {
    expect(facts.get(MispFacts.url)).toBe(`https://127.0.0.1:${httpsPort}`)
    expect(facts.get(MispFacts.caFile)).toBe('/etc/mispwazuh/misp-ca.crt')
    expect(facts.get(MispFacts.wazuhKeyFile)).toBe('/etc/mispwazuh/misp-wazuh.key')
    expect(facts.get(MispFacts.adminKeyFile)).toBe('/etc/mispwazuh/misp-admin.key')
    expect(facts.get(MispFacts.credentialsFile)).toBe('/etc/mispwazuh/misp-credentials')
  })

  it('keeps the CA key root-only', () => {
    const directory = fs.statSync(server().pathOnHost('/etc/mispwazuh/ca'))
    const key = fs.statSync(server().pathOnHost('/etc/mispwazuh/ca/misp-ca.key'))
    const serverKey = fs.statSync(server().pathOnHost('/opt/misp-docker/ssl/key.pem'))
    expect(directory.mode & 0o7777).toBe(0o700)
    expect(key.mode & 0o077).toBe(0)
    expect(serverKey.mode & 0o077).toBe(0)
  })

  it('certificate covers the server name and localhost', () => {
    const fingerprint = standin.starts[0]!.certificateFingerprint
    const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', server().pathOnHost('/opt/misp-docker/ssl/cert.pem')], {encoding: 'utf8'})
    expect(fingerprint).toMatch(/^[0-9A-F:]{95}$/)
    expect(text).toContain('DNS:localhost')
    expect(text).toContain('IP Address:127.0.0.1')
    const verify = execFileSync('openssl', ['verify', '-CAfile', server().pathOnHost('/etc/mispwazuh/misp-ca.crt'), server().pathOnHost('/opt/misp-docker/ssl/cert.pem')], {encoding: 'utf8'})
    expect(verify.trim()).toMatch(/: OK$/)
  })

  it('status reports every item ok', async () => {
    const report = await mispStatus(target, {redactor, log: new RunLog(redactor, {command: 'status', disabled: true})})
    expect(report.items.filter((item) => !item.ok)).toEqual([])
    expect(report.items.map((item) => item.title)).toEqual(['credentials file', 'MISP over verified TLS', 'feeds', 'warninglists', 'Wazuh auth key', 'daily refresh job'])
    expect(report.items[2]!.found).toBe(`${DEFAULT_ENABLED_FEEDS.length} of 84 feeds enabled, ${DEFAULT_ENABLED_FEEDS.length} cached`)
  })

  it('misp status command exits 0 as JSON', async () => {
    const result = await runCli(['misp', 'status', ...hostFlags(server(), 'admin'), '--json'])
    const report = JSON.parse(result.stdout) as {failed: number; url: string; items: Array<{title: string; ok: boolean}>}
    expect(result.exitCode).toBe(0)
    expect(report.failed).toBe(0)
    expect(report.url).toBe(`https://127.0.0.1:${httpsPort}`)
    expect(report.items).toHaveLength(6)
    const env = parseEnv(await server().readFile('/opt/misp-docker/.env'))
    expect(result.stdout).not.toContain(env.get('ADMIN_KEY'))
  })

  it('leaks no secret anywhere', async () => {
    const env = parseEnv(await server().readFile('/opt/misp-docker/.env'))
    const secrets = new Map<string, string>()
    for (const name of ['ADMIN_PASSWORD', 'ADMIN_KEY', 'MYSQL_PASSWORD', 'MYSQL_ROOT_PASSWORD', 'REDIS_PASSWORD']) secrets.set(name, env.get(name)!)
    secrets.set('wazuh key', (await server().readFile('/etc/mispwazuh/misp-wazuh.key')).trim())
    const caKey = (await server().readFile('/etc/mispwazuh/ca/misp-ca.key')).split('\n').filter((line) => line && !line.startsWith('-----')).join('')
    secrets.set('CA key', caKey.slice(0, 40))

    const logs = fs.readdirSync(logDirectory).map((file) => fs.readFileSync(path.join(logDirectory, file), 'utf8')).join('\n')
    const evidence: Record<string, string> = {
      'run log': logs,
      output: output.join('\n'),
      'argv of commands': commandLines.join('\n'),
      'docker calls': standin.calls().join('\n'),
      plan: renderPlan([...dryRun, ...firstRun, ...secondRun]),
    }
    expect(logs).toContain('CMD')
    for (const [where, text] of Object.entries(evidence)) {
      for (const [name, value] of secrets) expect(text.includes(value), `${name} in ${where}`).toBe(false)
    }

    // A world-readable control file proves the scan reads the files it should.
    await server().writeFile('/var/tmp/scan-control', 'control-value-7f3a9c', {mode: 0o644})
    const leaks: string[] = []
    const needles = [...secrets.entries(), ['control', 'control-value-7f3a9c'] as [string, string]]
    const walk = (directory: string): void => {
      for (const entry of fs.readdirSync(directory, {withFileTypes: true})) {
        const full = path.join(directory, entry.name)
        const relative = full.slice(server().rootfs.length)
        if (['/proc', '/sys', '/dev', '/run'].includes(relative)) continue
        if (entry.isDirectory()) {
          walk(full)
          continue
        }

        if (!entry.isFile()) continue
        const stat = fs.statSync(full)
        if ((stat.mode & 0o004) === 0 || stat.size > 20_000_000) continue
        const content = fs.readFileSync(full)
        for (const [name, value] of needles) if (content.includes(value)) leaks.push(`${name} in ${relative}`)
      }
    }

    walk(server().rootfs)
    expect(leaks).toEqual(['control in /var/tmp/scan-control'])
  }, 120_000)
})

describe('MISP part after a port change', () => {
  it('moves MISP and rewrites what names the URL', async () => {
    const oldPort = httpsPort
    httpsPort = await freePort()
    const records = await runSteps(steps(), context(false))
    const changed = records.filter((record) => record.check.status === 'change').map((record) => record.id)

    expect(changed).toEqual(['misp.env', 'misp.start', 'misp.refresh-job', 'misp.credentials'])
    for (const record of records) if (record.after) expect(`${record.id}: ${record.after.status}`).toBe(`${record.id}: ok`)
    expect(standin.starts.at(-1)!.port).toBe(httpsPort)
    expect(standin.starts.at(-1)!.port).not.toBe(oldPort)
    expect(parseEnv(await server().readFile('/opt/misp-docker/.env')).get('BASE_URL')).toBe(`https://127.0.0.1:${httpsPort}`)
    expect(await server().readFile('/usr/local/sbin/mispwazuh-misp-refresh')).toContain(`url='https://127.0.0.1:${httpsPort}'`)

    const backups = ['/opt/misp-docker', '/etc/mispwazuh'].flatMap((directory) =>
      fs.readdirSync(server().pathOnHost(directory)).filter((name) => name.includes('.mispwazuh-')).map((name) => path.join(server().pathOnHost(directory), name)))
    expect(backups.map((file) => path.basename(file).split('.mispwazuh-')[0]).sort()).toEqual(['.env', 'misp-credentials'])
    for (const file of backups) expect(fs.statSync(file).mode & 0o077).toBe(0)

    const again = await runSteps(steps(), context(false))
    for (const record of again) expect(`${record.id}: ${record.check.status}`).toBe(`${record.id}: ok`)
  })
})
