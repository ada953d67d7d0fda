/**
 * A wired MISP-to-Wazuh chain on the Debian test server: `mispwazuh setup` run through the built
 * CLI with the docker stand-in (which serves the MISP double), the Wazuh stand-ins and free
 * ports. verify is then run against it as a user would. Tests break one part, run verify, and
 * `restore()` puts the part back.
 */
import net from 'node:net'

import {expect} from 'vitest'

import {hostFlags, runCli, type CliResult} from '../support/cli.js'
import {feedStateOf} from '../support/misp-double/routes/feeds.js'
import {startMispDouble, type MispDouble} from '../support/misp-double/server.js'
import {freePort, prepareSetupLab} from '../support/setup-lab.js'
import type {TestServer} from '../support/test-server.js'
import {wazuhControl} from '../support/wazuh/standins.js'

export const INTEGRATION_CONFIG = '/var/ossec/etc/mispwazuh/misp.json'
export const SCRIPT = '/var/ossec/integrations/custom-misp'
export const CA_FILE = '/etc/mispwazuh/misp-ca.crt'
/** The copy of the CA that setup gives the integration (root:wazuh 0640). */
export const INTEGRATION_CA_FILE = '/var/ossec/etc/mispwazuh/misp-ca.crt'
export const WAZUH_KEY_FILE = '/etc/mispwazuh/misp-wazuh.key'
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

async function run(server: TestServer, argv: string[], stdin?: string): Promise<string> {
  const result = await server.exec(argv, stdin === undefined ? {} : {stdin})
  expect(result.exitCode, `${argv.join(' ')}: ${result.stderr}`).toBe(0)
  return result.stdout
}

/** Runs `mispwazuh setup` on a started test server, with the docker and Wazuh stand-ins and the MISP double. */
export async function buildChain(server: TestServer): Promise<Chain> {
  // A port of its own for the API stand-in, so that other test files can run setup at the same time.
  const lab = await prepareSetupLab(server, {wazuh: {apiPort: await freePort()}})
  const setup = await runCli(['setup', ...hostFlags(server), ...lab.setupFlags], {timeoutMs: 600_000})
  expect(setup.exitCode, `setup failed:\n${setup.stdout}\n${setup.stderr}`).toBe(0)

  const served = lab.docker.double
  if (!served) throw new Error('setup finished but the docker stand-in serves no MISP double')
  let double: MispDouble = served
  const store = double.store
  const feeds = feedStateOf(store)
  const enabledFeeds = [...feeds.feeds.values()].filter((item) => item.Feed.enabled === true)
  const adminKey = (await server.readFile('/etc/mispwazuh/misp-admin.key')).trim()
  const wazuhKey = (await server.readFile('/etc/mispwazuh/misp-wazuh.key')).trim()

  const pristine = new Map<string, {content: string; owner: string; group: string; mode: number}>()
  for (const file of [SCRIPT, INTEGRATION_CONFIG, CA_FILE, INTEGRATION_CA_FILE, WAZUH_KEY_FILE, '/var/ossec/etc/ossec.conf', '/var/ossec/etc/rules/local_rules.xml', '/var/ossec/etc/rules/misp.xml']) {
    const [owner = 'root', group = 'root', mode = '644'] = (await run(server, ['stat', '-c', '%U %G %a', file])).trim().split(' ')
    pristine.set(file, {content: await server.readFile(file), owner, group, mode: Number.parseInt(mode, 8)})
  }

  const chain: Chain = {
    server,
    get double() {
      return double
    },
    adminKey,
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
      for (const item of enabledFeeds) item.Feed.enabled = true
      const restarted = await wazuhControl(server, 'restart')
      expect(restarted.exitCode, restarted.stdout).toBe(0)
      for (const log of ['/var/ossec/logs/ossec.log', '/var/ossec/logs/integrations.log']) await run(server, ['truncate', '-s', '0', log])
    },

    async stop() {
      if (double !== lab.docker.double) await double.stop()
      await lab.stop()
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
 * Makes, inside the server, a copy of setup's MISP CA certificate that expired in 2021: same
 * subject and key, so it would still verify MISP's server certificate if it had not expired.
 */
export async function expiredCopyOfCa(server: TestServer): Promise<string> {
  const directory = '/root/expired-ca'
  await run(server, ['rm', '-rf', directory])
  await run(server, ['mkdir', '-m', '0700', directory])
  await server.writeFile(`${directory}/ca.cnf`, [
    '[ca]', 'default_ca = local', '[local]', `database = ${directory}/index.txt`, `new_certs_dir = ${directory}`,
    `serial = ${directory}/serial`, 'default_md = sha256', 'policy = anything', 'copy_extensions = none', 'unique_subject = no',
    '[anything]', 'commonName = supplied', '[extensions]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', '',
  ].join('\n'))
  await server.writeFile(`${directory}/index.txt`, '')
  await server.writeFile(`${directory}/serial`, '01\n')
  const key = '/etc/mispwazuh/ca/misp-ca.key'
  await run(server, ['openssl', 'x509', '-x509toreq', '-in', CA_FILE, '-signkey', key, '-out', `${directory}/ca.csr`])
  await run(server, ['openssl', 'ca', '-batch', '-config', `${directory}/ca.cnf`, '-selfsign', '-keyfile', key, '-in', `${directory}/ca.csr`, '-out', `${directory}/expired.crt`, '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extensions', 'extensions', '-notext'])
  return server.readFile(`${directory}/expired.crt`)
}
