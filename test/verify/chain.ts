/**
 * A wired MISP-to-Wazuh chain on the Debian test server, built from the product's own parts
 * where they exist: the Wazuh stand-ins installed with the installer stand-in, the MISP double
 * with a dedicated Wazuh user, the key and CA files where setup writes them, the integration
 * script and its config, and ossec.conf and the rules written by planWazuhConfig. verify is then
 * run against it as a user would, through the built CLI.
 */
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {promisify} from 'node:util'

import {expect} from 'vitest'

import {applyFile} from '../../src/steps/file-change.js'
import {SshTarget} from '../../src/target/ssh-target.js'
import {planWazuhConfig} from '../../src/wazuh/config-plan.js'
import {hostFlags, repositoryRoot, runCli, type CliResult} from '../support/cli.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import type {TestServer} from '../support/test-server.js'
import {installWazuhStandins, runWazuhInstaller, wazuhControl} from '../support/wazuh/standins.js'

const execFileAsync = promisify(execFile)

export const WAZUH_USER_EMAIL = 'wazuh@misp.local'
export const INTEGRATION_CONFIG = '/var/ossec/etc/mispwazuh/misp.json'
export const SCRIPT = '/var/ossec/integrations/custom-misp'
export const CA_FILE = '/etc/mispwazuh/misp-ca.crt'
export const RULE_ID_BASE = 100_600

export interface Chain {
  server: TestServer
  double: MispDouble
  adminKey: string
  wazuhKey: string
  /** Runs `mispwazuh verify` against the server with extra arguments, and parses --json output. */
  verify(args?: string[]): Promise<{cli: CliResult; report: VerifyJson}>
  /** Puts back every file a test may break, restarts the manager and empties the logs. */
  restore(): Promise<void>
  stop(): Promise<void>
}

export interface VerifyJson {
  target: string
  verdict: 'pass' | 'fail'
  hops: Array<{id: string; status: 'pass' | 'fail' | 'skip'; found: string; fix?: string; notes: string[]; stages?: Array<{name: string; reached: boolean; detail: string}>}>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function run(server: TestServer, argv: string[], stdin?: string): Promise<string> {
  const result = await server.exec(argv, stdin === undefined ? {} : {stdin})
  expect(result.exitCode, `${argv.join(' ')}: ${result.stderr}`).toBe(0)
  return result.stdout
}

/** Builds the chain on a started test server. */
export async function buildChain(server: TestServer): Promise<Chain> {
  const apiPort = await freePort()
  const dashboardPort = await freePort()
  await installWazuhStandins(server, {apiPort})
  const installed = await runWazuhInstaller(server, {args: ['-a', '-p', String(dashboardPort)]})
  expect(installed.exitCode, installed.stdout + installed.stderr).toBe(0)

  let double = await startMispDouble()
  const store = double.store
  const role = store.addRole('mispwazuh-read', {perm_auth: true})
  const wazuhUser = store.addUser({email: WAZUH_USER_EMAIL, orgId: '1', roleId: role.id})
  const wazuhKey = store.addAuthKey(wazuhUser.id, {comment: 'mispwazuh: Wazuh integration (attribute searches)'}).authkey
  const feeds = feedStateOf(store)
  feeds.loadDefaults()
  for (const item of [...feeds.feeds.values()].slice(0, 3)) {
    item.Feed.enabled = true
    item.Feed.caching_enabled = true
    item.Feed.cache_timestamp = String(store.now())
  }

  store.addWarninglist({name: 'List of known IPv4 public DNS resolvers', type: 'cidr', entries: ['8.8.8.8/32', '1.1.1.1/32']})
  store.addWarninglist({name: 'Top 1000 website from Alexa', type: 'hostname', entries: ['google.com', 'microsoft.com']})

  // The files setup writes for MISP.
  await server.writeFile(CA_FILE, double.tls.ca.certPem, {mode: 0o644})
  await server.writeFile('/etc/mispwazuh/misp-admin.key', `${double.adminKey}\n`, {mode: 0o600})
  await server.writeFile('/etc/mispwazuh/misp-wazuh.key', `${wazuhKey}\n`, {mode: 0o600})
  await server.writeFile('/etc/mispwazuh/misp-credentials', [
    '# MISP access written by mispwazuh. Keep this file root-only (0600).',
    `MISP_URL=${double.url}`,
    'MISP_ADMIN_EMAIL=admin@admin.test',
    'MISP_ADMIN_PASSWORD=(not managed by mispwazuh: existing MISP)',
    'MISP_ADMIN_KEY_FILE=/etc/mispwazuh/misp-admin.key',
    `MISP_WAZUH_USER=${WAZUH_USER_EMAIL}`,
    'MISP_WAZUH_KEY_FILE=/etc/mispwazuh/misp-wazuh.key',
    `MISP_CA_FILE=${CA_FILE}`,
    '',
  ].join('\n'), {mode: 0o600})

  // The integration: script, its config and its cache directory.
  const script = fs.readFileSync(path.join(repositoryRoot, 'templates/integrations/custom-misp.py'))
  await server.writeFile(SCRIPT, script, {owner: 'root', group: 'wazuh', mode: 0o750})
  await run(server, ['install', '-d', '-o', 'root', '-g', 'wazuh', '-m', '0750', '/var/ossec/etc/mispwazuh'])
  await run(server, ['install', '-d', '-o', 'wazuh', '-g', 'wazuh', '-m', '0750', '/var/ossec/var/mispwazuh'])
  const config = {misp_url: double.url, api_key: wazuhKey, ca_file: CA_FILE, verify_tls: true}
  await server.writeFile(INTEGRATION_CONFIG, `${JSON.stringify(config, null, 2)}\n`, {owner: 'root', group: 'wazuh', mode: 0o640})

  // ossec.conf, local_rules.xml and misp.xml as the Wazuh configuration step writes them.
  const target = await SshTarget.connect({host: '127.0.0.1', port: server.port, user: 'root', identityFile: server.identityFile, knownHostsFile: server.knownHostsFile})
  try {
    const plan = await planWazuhConfig(target, {ruleIdBase: RULE_ID_BASE})
    for (const file of plan.files) await applyFile(target, file)
  } finally {
    await target.close()
  }

  const restarted = await wazuhControl(server, 'restart')
  expect(restarted.exitCode, restarted.stdout).toBe(0)

  const pristine = new Map<string, {content: string; owner: string; group: string; mode: number}>()
  for (const file of [SCRIPT, INTEGRATION_CONFIG, CA_FILE, '/var/ossec/etc/ossec.conf', '/var/ossec/etc/rules/local_rules.xml', '/var/ossec/etc/rules/misp.xml']) {
    const [owner = 'root', group = 'root', mode = '644'] = (await run(server, ['stat', '-c', '%U %G %a', file])).trim().split(' ')
    pristine.set(file, {content: await server.readFile(file), owner, group, mode: Number.parseInt(mode, 8)})
  }

  const chain: Chain = {
    server,
    get double() {
      return double
    },
    adminKey: double.adminKey,
    wazuhKey,

    async verify(args: string[] = []) {
      const cli = await runCli(['verify', ...hostFlags(server), '--json', ...args], {timeoutMs: 300_000})
      let report: VerifyJson
      try {
        report = JSON.parse(cli.stdout) as VerifyJson
      } catch {
        throw new Error(`verify printed no JSON (exit ${cli.exitCode}):\n${cli.stdout}\n${cli.stderr}`)
      }

      if (!Array.isArray(report.hops)) throw new Error(`verify returned no hops (exit ${cli.exitCode}):\n${cli.stdout}\n${cli.stderr}`)
      return {cli, report}
    },

    async restore() {
      for (const [file, saved] of pristine) await server.writeFile(file, saved.content, {owner: saved.owner, group: saved.group, mode: saved.mode})
      await run(server, ['rm', '-f', '/var/ossec/etc/rules/zz-verify-test.xml'])
      if (!(await isListening(double.port))) double = await startMispDouble({tls: double.tls, store, port: double.port})
      double.faults.clear()
      for (const item of [...feeds.feeds.values()].slice(0, 3)) item.Feed.enabled = true
      const restarted = await wazuhControl(server, 'restart')
      expect(restarted.exitCode, restarted.stdout).toBe(0)
      for (const log of ['/var/ossec/logs/ossec.log', '/var/ossec/logs/integrations.log']) await run(server, ['truncate', '-s', '0', log])
    },

    async stop() {
      await double.stop()
      double.tls.cleanup()
    },
  }

  return chain
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Writes a copy of the chain's CA certificate that expired a year ago: same subject, same key,
 * so it would verify the server certificate if it had not expired.
 */
export async function expiredCopyOfCa(double: MispDouble): Promise<string> {
  const directory = fs.mkdtempSync(path.join(double.tls.directory, 'expired-'))
  const config = path.join(directory, 'ca.cnf')
  fs.writeFileSync(config, [
    '[ca]', 'default_ca = local', '[local]', `database = ${path.join(directory, 'index.txt')}`, `new_certs_dir = ${directory}`,
    `serial = ${path.join(directory, 'serial')}`, 'default_md = sha256', 'policy = anything', 'copy_extensions = none', 'unique_subject = no',
    '[anything]', 'commonName = supplied', '[extensions]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', '',
  ].join('\n'))
  fs.writeFileSync(path.join(directory, 'index.txt'), '')
  fs.writeFileSync(path.join(directory, 'serial'), '01\n')
  const request = path.join(directory, 'ca.csr')
  const certificate = path.join(directory, 'expired-ca.crt')
  await execFileAsync('openssl', ['req', '-new', '-key', double.tls.ca.keyFile, '-subj', double.tls.ca.subject, '-out', request])
  await execFileAsync('openssl', ['ca', '-batch', '-config', config, '-selfsign', '-keyfile', double.tls.ca.keyFile, '-in', request, '-out', certificate, '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extensions', 'extensions', '-notext'])
  return fs.readFileSync(certificate, 'utf8')
}
