/**
 * The docker stand-in for the Debian test server, and its controller on this machine.
 *
 * `install()` puts docker.sh at /usr/local/bin/docker inside the server. The script records every
 * call in /var/lib/docker-standin/calls.log and turns `docker compose up` into a request file.
 * The controller polls for those files and does what misp-docker's containers would do: it reads
 * the misp-docker directory's .env and ssl/ from the server's filesystem and serves the MISP double
 * on the .env's HTTPS port with that certificate, with the admin's email and key set from
 * ADMIN_EMAIL and ADMIN_KEY (as misp-docker's init_user does). The server shares this machine's
 * network, so 127.0.0.1:PORT inside it reaches the double.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseEnv} from '../../../src/misp/env-file.js'
import {startMispDouble, type MispDouble} from '../misp-double/server.js'
import {loadBundledWarninglists} from '../misp-double/routes/warninglists.js'
import {MispStore} from '../misp-double/store.js'
import type {TestServer} from '../test-server.js'
import type {TlsFixture} from '../tls.js'

const scriptFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'docker.sh')
const stateDirectory = '/var/lib/docker-standin'

export interface DockerStandinOptions {
  /** Number of requests that get the 503 "MISP is loading" page after each start. Default 3. */
  loadingRequests?: number
}

export interface StartRecord {
  directory: string
  port: number
  adminEmail: string
  /** SHA-256 fingerprint of the certificate the double served. */
  certificateFingerprint: string
}

export interface DockerStandin {
  /** The running double, undefined before the first `compose up`. */
  readonly double: MispDouble | undefined
  /** The MISP data, kept across restarts as misp-docker's database volume keeps it. */
  readonly store: MispStore
  /** Every `compose up` the controller served, in order. */
  readonly starts: StartRecord[]
  /** The admin password misp-docker would have set from ADMIN_PASSWORD at the last start. */
  readonly adminPassword: string | undefined
  /** The stand-in's call log: one line per docker call, as `time<TAB>cwd=DIR<TAB>arguments`. */
  calls(): string[]
  stop(): Promise<void>
}

/** Installs the stand-in into the server and starts its controller. */
export async function installDockerStandin(server: TestServer, options: DockerStandinOptions = {}): Promise<DockerStandin> {
  await server.writeFile('/usr/local/bin/docker', fs.readFileSync(scriptFile), {mode: 0o755})
  const requests = server.pathOnHost(`${stateDirectory}/requests`)
  fs.mkdirSync(requests, {recursive: true})

  const store = new MispStore()
  const starts: StartRecord[] = []
  let double: MispDouble | undefined
  let adminPassword: string | undefined
  let busy = false
  let failure: Error | undefined

  async function stopDouble(): Promise<void> {
    await double?.stop()
    double = undefined
    fs.rmSync(server.pathOnHost(`${stateDirectory}/running`), {force: true})
  }

  async function up(directory: string): Promise<void> {
    const env = parseEnv(fs.readFileSync(server.pathOnHost(path.posix.join(directory, '.env')), 'utf8'))
    const port = Number(env.get('NGINX_HTTPS_PORT') || env.get('CORE_HTTPS_PORT') || '443')
    const certPem = fs.readFileSync(server.pathOnHost(path.posix.join(directory, 'ssl/cert.pem')), 'utf8')
    const keyPem = fs.readFileSync(server.pathOnHost(path.posix.join(directory, 'ssl/key.pem')), 'utf8')

    // init_user: user 1 gets ADMIN_EMAIL, and ADMIN_KEY replaces (expires) every other key of user 1.
    const admin = store.users.get('1')!
    admin.email = env.get('ADMIN_EMAIL') || 'admin@admin.test'
    adminPassword = env.get('ADMIN_PASSWORD') || 'admin'
    const adminKey = env.get('ADMIN_KEY')
    if (adminKey) {
      for (const key of [...store.authKeys.values()]) if (key.user_id === '1') store.authKeys.delete(key.id)
      store.addAuthKey('1', {key: adminKey, comment: 'ADMIN_KEY from .env'})
    }

    // The component updates at start load MISP's warninglists, disabled.
    loadBundledWarninglists(store)

    await stopDouble()
    const tls: TlsFixture = {
      directory,
      ca: {certFile: '', keyFile: '', certPem: '', subject: ''},
      otherCa: {certFile: '', keyFile: '', certPem: '', subject: ''},
      server: {certFile: '', keyFile: '', certPem, keyPem, dnsNames: [], ipAddresses: []},
      issue: () => Promise.reject(new Error('the docker stand-in serves the certificate from ssl/')),
      cleanup: () => {},
    }
    double = await startMispDouble({tls, store, port, host: '127.0.0.1'})
    double.faults.set({loadingRequests: options.loadingRequests ?? 3})

    const {X509Certificate} = await import('node:crypto')
    starts.push({directory, port, adminEmail: admin.email, certificateFingerprint: new X509Certificate(certPem).fingerprint256})
    fs.writeFileSync(server.pathOnHost(`${stateDirectory}/running`), `${port}\n`)
    fs.appendFileSync(server.pathOnHost(`${stateDirectory}/misp-core.log`), `misp-core  | INIT | Done ... (double on port ${port})\nmisp-core  | MISP | Mark instance live\n`)
  }

  async function poll(): Promise<void> {
    if (busy) return
    busy = true
    try {
      for (const name of fs.readdirSync(requests).filter((file) => file.endsWith('.req')).sort()) {
        const file = path.join(requests, name)
        const [action = '', directory = ''] = fs.readFileSync(file, 'utf8').split('\n')
        fs.rmSync(file)
        if (action === 'up') await up(directory)
        if (action === 'down') await stopDouble()
      }
    } catch (error) {
      failure = error as Error
    } finally {
      busy = false
    }
  }

  const timer = setInterval(() => void poll(), 100)

  return {
    get double() {
      return double
    },
    store,
    starts,
    get adminPassword() {
      return adminPassword
    },
    calls() {
      if (failure) throw failure
      const file = server.pathOnHost(`${stateDirectory}/calls.log`)
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
    },
    async stop() {
      clearInterval(timer)
      await stopDouble()
    },
  }
}
