import {X509Certificate, randomBytes} from 'node:crypto'
import {isIP} from 'node:net'
import path from 'node:path/posix'

import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import type {Target} from '../target/target.js'
import type {MispRunState} from './run-state.js'

/** Days a server certificate stays valid; 825 is the most that Apple's TLS clients accept. */
const SERVER_CERT_DAYS = 825
const CA_DAYS = 3650
/** A server certificate closer than this to expiry is issued again. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000

/**
 * Returns the names a certificate must cover: the server name plus extra names, localhost, 127.0.0.1
 * and ::1 (misp-docker's health check and local clients use them). Sorted, without duplicates.
 */
export function certificateNames(serverName: string, extraNames: readonly string[]): {dns: string[]; ip: string[]} {
  const all = new Set([serverName, ...extraNames, 'localhost', '127.0.0.1', '::1'].map((name) => name.trim().toLowerCase()).filter(Boolean))
  const dns = [...all].filter((name) => isIP(name) === 0).sort()
  const ip = [...all].filter((name) => isIP(name) !== 0).sort()
  return {dns, ip}
}

/** Returns the subjectAltName value openssl takes, e.g. `DNS:misp.example.org,IP:192.0.2.10`. */
export function subjectAltNameValue(names: {dns: string[]; ip: string[]}): string {
  return [...names.dns.map((name) => `DNS:${name}`), ...names.ip.map((address) => `IP:${address}`)].join(',')
}

/** Names a certificate lacks, compared with the wanted list (IPv6 compared in openssl's expanded form). */
export function missingNames(cert: X509Certificate, names: {dns: string[]; ip: string[]}): string[] {
  const present = new Set((cert.subjectAltName ?? '').split(',').map((part) => part.trim().toLowerCase()))
  const missing = names.dns.filter((name) => !present.has(`dns:${name}`))
  for (const address of names.ip) {
    const expanded = isIP(address) === 6 ? expandIpv6(address) : address
    if (!present.has(`ip address:${address}`) && !present.has(`ip address:${expanded}`)) missing.push(address)
  }

  return missing
}

/**
 * A private CA for MISP and a server certificate signed by it, both made with openssl on the
 * target so the private keys never leave it. misp-docker's nginx reads ssl/cert.pem and
 * ssl/key.pem (mounted as /etc/nginx/certs). The CA key stays in a root-only directory; the CA
 * certificate is public and is what the CLI, the refresh job and the Wazuh integration trust.
 */
export function mispTlsStep(state: MispRunState): Step {
  const {options, paths} = state
  const wantedNames = async (target: Target) => certificateNames(options.serverName, [...options.extraNames, ...(await hostNames(target))])

  return {
    id: 'misp.tls',
    title: 'TLS certificate for MISP',

    async check(context: StepContext): Promise<StepCheck> {
      const {target} = context
      const names = await wantedNames(target)
      const caPem = (await target.exists(paths.caCertFile)) && (await target.exists(paths.caKeyFile)) ? await target.readText(paths.caCertFile) : undefined
      const changes: Change[] = []

      if (caPem === undefined) {
        changes.push({kind: 'command', summary: `create a CA: key ${paths.caKeyFile} (root 0600), certificate ${paths.caCertFile} (0644)`, argv: [caKeyArgv(paths.caKeyFile), caCertArgv(paths.caKeyFile, paths.caCertFile)]})
      } else {
        state.caPem = caPem
      }

      const serverProblem = await serverCertificateProblem(target, state, caPem, names)
      if (serverProblem !== undefined) {
        changes.push({
          kind: 'command',
          summary: `issue ${paths.serverCertFile} for ${subjectAltNameValue(names)} (${serverProblem}), key ${paths.serverKeyFile} (root 0600)`,
          argv: [['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', paths.serverKeyFile], ['openssl', 'x509', '-req', '-CA', paths.caCertFile, '-CAkey', paths.caKeyFile, '...']],
        })
      }

      if (changes.length === 0) return {status: 'ok', reason: `${paths.serverCertFile} covers ${subjectAltNameValue(names)} and is signed by ${paths.caCertFile}`, changes: []}
      return {status: 'change', reason: caPem === undefined ? 'no MISP CA yet' : `server certificate: ${serverProblem}`, changes}
    },

    async apply(context: StepContext): Promise<void> {
      const {target} = context
      await target.mkdir(options.configDir, {mode: 0o755, owner: 'root', group: 'root'})
      await target.mkdir(paths.caDir, {mode: 0o700, owner: 'root', group: 'root'})
      await target.mkdir(paths.sslDir, {mode: 0o755, owner: 'root', group: 'root'})

      if (!(await target.exists(paths.caCertFile)) || !(await target.exists(paths.caKeyFile))) {
        context.progress('creating the MISP CA')
        await target.exec(caKeyArgv(paths.caKeyFile))
        await target.chmod(paths.caKeyFile, 0o600)
        await target.exec(caCertArgv(paths.caKeyFile, paths.caCertFile))
        await target.chmod(paths.caCertFile, 0o644)
      }

      state.caPem = await target.readText(paths.caCertFile)
      const names = await wantedNames(target)
      if ((await serverCertificateProblem(target, state, state.caPem, names)) === undefined) return

      context.progress('issuing the MISP server certificate')
      await issueServerCertificate(target, state, names)
      state.restartNeeded = true
    },
  }
}

async function serverCertificateProblem(target: Target, state: MispRunState, caPem: string | undefined, names: {dns: string[]; ip: string[]}): Promise<string | undefined> {
  const {paths} = state
  if (!(await target.exists(paths.serverCertFile)) || !(await target.exists(paths.serverKeyFile))) return 'none installed'
  if (caPem === undefined) return 'a new CA is created'

  let cert: X509Certificate
  try {
    cert = new X509Certificate(await target.readFile(paths.serverCertFile))
  } catch {
    return 'the installed file is not a PEM certificate'
  }

  if (!cert.checkIssued(new X509Certificate(caPem)) || !cert.verify(new X509Certificate(caPem).publicKey)) return 'not signed by the MISP CA'
  const missing = missingNames(cert, names)
  if (missing.length > 0) return `does not cover ${missing.join(', ')}`
  if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return `expires ${cert.validTo}`

  // Compare public keys on the target, so the private key is never read by the CLI.
  const certKey = await target.exec(['openssl', 'x509', '-noout', '-pubkey', '-in', paths.serverCertFile], {allowExitCodes: 'any'})
  const privateKey = await target.exec(['openssl', 'pkey', '-pubout', '-in', paths.serverKeyFile], {allowExitCodes: 'any', quiet: true})
  if (certKey.exitCode !== 0 || privateKey.exitCode !== 0 || certKey.stdout.trim() !== privateKey.stdout.trim()) return 'its key file does not match'

  const keyStat = await target.stat(paths.serverKeyFile)
  if (keyStat && ((keyStat.mode & 0o077) !== 0 || keyStat.owner !== 'root')) return `${paths.serverKeyFile} is readable by others (mode 0${(keyStat.mode & 0o777).toString(8)})`
  return undefined
}

async function issueServerCertificate(target: Target, state: MispRunState, names: {dns: string[]; ip: string[]}): Promise<void> {
  const {paths, options} = state
  const work = path.join(paths.caDir, 'issue')
  await target.remove(work, {recursive: true})
  await target.mkdir(work, {mode: 0o700, owner: 'root', group: 'root'})

  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${subjectAltNameValue(names)}`,
    '',
  ].join('\n')
  await target.writeFile(path.join(work, 'server.ext'), extensions, {mode: 0o600, owner: 'root', group: 'root'})

  const newKey = path.join(work, 'key.pem')
  const csr = path.join(work, 'server.csr')
  const newCert = path.join(work, 'cert.pem')
  const commonName = options.serverName.length <= 64 ? options.serverName : 'MISP'
  await target.exec(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', newKey])
  await target.exec(['openssl', 'req', '-new', '-key', newKey, '-subj', `/CN=${commonName}`, '-out', csr])
  await target.exec([
    'openssl', 'x509', '-req', '-in', csr, '-CA', paths.caCertFile, '-CAkey', paths.caKeyFile,
    '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(SERVER_CERT_DAYS), '-sha256',
    '-extfile', path.join(work, 'server.ext'), '-out', newCert,
  ])

  // Move the pair into misp-docker's ssl directory; the key is root-only, as nginx's master process runs as root.
  await target.exec(['install', '-m', '0600', '-o', 'root', '-g', 'root', newKey, paths.serverKeyFile])
  await target.exec(['install', '-m', '0644', '-o', 'root', '-g', 'root', newCert, paths.serverCertFile])
  await target.remove(work, {recursive: true})
}

/**
 * Returns the target's host name and fully qualified name, so clients that use them also verify.
 * Addresses other than the server name are left out: Docker adds bridge addresses when MISP
 * starts, and a certificate that followed them would be issued again on every run.
 */
async function hostNames(target: Target): Promise<string[]> {
  const names: string[] = []
  for (const argv of [['hostname'], ['hostname', '-f']]) {
    const result = await target.exec(argv, {allowExitCodes: 'any'})
    const name = result.stdout.trim().toLowerCase()
    if (result.exitCode === 0 && DNS_NAME.test(name) && isIP(name) === 0) names.push(name)
  }

  return names
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/

function caKeyArgv(keyFile: string): string[] {
  return ['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]
}

function caCertArgv(keyFile: string, certFile: string): string[] {
  return [
    'openssl', 'req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', String(CA_DAYS),
    '-subj', '/CN=mispwazuh MISP CA', '-out', certFile,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]
}

function expandIpv6(address: string): string {
  const [head = '', tail = ''] = address.split('::')
  const headParts = head ? head.split(':') : []
  const tailParts = tail ? tail.split(':') : []
  const fill = address.includes('::') ? Array(8 - headParts.length - tailParts.length).fill('0') : []
  return [...headParts, ...fill, ...tailParts].map((part) => part.toUpperCase().replace(/^0+(?=.)/, '')).join(':').toLowerCase()
}
