/**
 * Test certificates made with the openssl CLI: a CA, server certificates signed by it for given
 * DNS names and IP addresses, and an unrelated second CA for rejection tests.
 *
 * Keys are EC P-256, because RSA key generation costs seconds on small machines. Every file lands
 * in one temporary directory (mode 0700) that `cleanup()` removes.
 */
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

const execFileAsync = promisify(execFile)

export interface CertificateAuthority {
  /** PEM certificate file. */
  certFile: string
  /** PEM private key file (mode 0600). */
  keyFile: string
  certPem: string
  subject: string
}

export interface ServerCertificate {
  certFile: string
  keyFile: string
  certPem: string
  keyPem: string
  dnsNames: string[]
  ipAddresses: string[]
}

export interface ServerNames {
  /** DNS subject alternative names. */
  dnsNames?: string[]
  /** IP subject alternative names (IPv4 or IPv6). */
  ipAddresses?: string[]
}

export interface TlsFixture {
  directory: string
  ca: CertificateAuthority
  /** A CA that signed nothing the fixture serves: trusting only it must fail verification. */
  otherCa: CertificateAuthority
  server: ServerCertificate
  /** Issue one more server certificate from `ca` (or from `otherCa` when `signer` is given). */
  issue(names: ServerNames, signer?: CertificateAuthority): Promise<ServerCertificate>
  cleanup(): void
}

const validityDays = '30'

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, {cwd})
  } catch (error) {
    const stderr = (error as {stderr?: string}).stderr ?? ''
    throw new Error(`openssl ${args[0]} failed in ${cwd}: ${stderr.trim() || String(error)}`)
  }
}

/** Create a self-signed CA named `name` in `directory`. */
export async function createCertificateAuthority(directory: string, name: string): Promise<CertificateAuthority> {
  const keyFile = path.join(directory, `${name}.key`)
  const certFile = path.join(directory, `${name}.crt`)
  const subject = `/CN=mispwazuh test ${name}`

  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], directory)
  fs.chmodSync(keyFile, 0o600)
  await openssl(
    [
      'req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', validityDays, '-subj', subject, '-out', certFile,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    directory,
  )

  return {certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8'), subject}
}

let serial = 0

/** Issue a server certificate for the given names, signed by `ca`. */
export async function issueServerCertificate(
  directory: string,
  ca: CertificateAuthority,
  names: ServerNames,
): Promise<ServerCertificate> {
  const dnsNames = names.dnsNames ?? []
  const ipAddresses = names.ipAddresses ?? []
  if (dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new Error('issueServerCertificate needs at least one DNS name or IP address')
  }

  serial += 1
  const base = path.join(directory, `server-${process.pid}-${serial}`)
  const keyFile = `${base}.key`
  const csrFile = `${base}.csr`
  const certFile = `${base}.crt`
  const extensionsFile = `${base}.ext`
  const alternativeNames = [...dnsNames.map((name) => `DNS:${name}`), ...ipAddresses.map((ip) => `IP:${ip}`)]

  fs.writeFileSync(
    extensionsFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${alternativeNames.join(',')}`,
      '',
    ].join('\n'),
  )
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], directory)
  fs.chmodSync(keyFile, 0o600)
  await openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${dnsNames[0] ?? ipAddresses[0]}`, '-out', csrFile], directory)
  await openssl(
    [
      'x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
      '-days', validityDays, '-sha256', '-extfile', extensionsFile, '-out', certFile,
    ],
    directory,
  )

  return {
    certFile,
    keyFile,
    certPem: fs.readFileSync(certFile, 'utf8'),
    keyPem: fs.readFileSync(keyFile, 'utf8'),
    dnsNames,
    ipAddresses,
  }
}

/**
 * Create a CA, a second unrelated CA, and a server certificate for `names` (default: localhost,
 * 127.0.0.1 and ::1) signed by the first CA, all in a new temporary directory.
 */
export async function createTlsFixture(names: ServerNames = {}): Promise<TlsFixture> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-tls-'))
  fs.chmodSync(directory, 0o700)

  try {
    const ca = await createCertificateAuthority(directory, 'ca')
    const otherCa = await createCertificateAuthority(directory, 'other-ca')
    const server = await issueServerCertificate(directory, ca, {
      dnsNames: names.dnsNames ?? ['localhost'],
      ipAddresses: names.ipAddresses ?? ['127.0.0.1', '::1'],
    })

    return {
      directory,
      ca,
      otherCa,
      server,
      issue: (moreNames, signer) => issueServerCertificate(directory, signer ?? ca, moreNames),
      cleanup: () => fs.rmSync(directory, {recursive: true, force: true}),
    }
  } catch (error) {
    fs.rmSync(directory, {recursive: true, force: true})
    throw error
  }
}
