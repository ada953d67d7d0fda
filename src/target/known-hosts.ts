import {createHash, createHmac} from 'node:crypto'
import {appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

/** The key type name inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('ascii')
}

/** The fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** How OpenSSH names a host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

export function defaultKnownHostsFile(): string {
  return path.join(homedir(), '.ssh', 'known_hosts')
}

export type HostKeyVerdict =
  | {status: 'match'}
  | {status: 'unknown'}
  | {status: 'changed'; line: number; knownType: string}
  | {status: 'revoked'; line: number}

/**
 * Checks a host key against a known_hosts file the way OpenSSH's StrictHostKeyChecking does:
 * plain and hashed (`|1|salt|hash`) host names, comma-separated patterns with `*` and `?`,
 * negation (`!pattern`) and `@revoked` markers. `@cert-authority` lines are ignored.
 * A host that is listed with other keys and not this one counts as changed.
 */
export function checkHostKey(file: string, host: string, port: number, blob: Buffer): HostKeyVerdict {
  if (!existsSync(file)) return {status: 'unknown'}
  const name = knownHostsName(host, port)
  const encoded = blob.toString('base64')
  let changed: HostKeyVerdict | undefined
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    let marker: string | undefined
    if (fields[0]?.startsWith('@')) marker = fields.shift()
    const [hosts = '', type = '', key = ''] = fields
    if (marker === '@cert-authority' || !hostMatches(hosts, name)) continue

    if (marker === '@revoked') {
      if (key === encoded) return {status: 'revoked', line: index + 1}
      continue
    }

    if (key === encoded) return {status: 'match'}
    changed ??= {status: 'changed', line: index + 1, knownType: type}
  }

  return changed ?? {status: 'unknown'}
}

/** Appends the host key to known_hosts (creating the file 0600 and its directory 0700). */
export function addHostKey(file: string, host: string, port: number, blob: Buffer): void {
  mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  const fresh = !existsSync(file)
  const needsNewline = !fresh && !readFileSync(file, 'utf8').endsWith('\n') && readFileSync(file, 'utf8').length > 0
  appendFileSync(file, `${needsNewline ? '\n' : ''}${knownHostsName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, {mode: 0o600})
  if (fresh) chmodSync(file, 0o600)
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) return hashedHostMatches(patterns, name)
  let matched = false
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!')
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) {
      if (negated) return false
      matched = true
    }
  }

  return matched
}

function hashedHostMatches(entry: string, name: string): boolean {
  const [, , salt = '', hash = ''] = entry.split('|')
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
  return digest === hash
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replaceAll(/[.+^${}()|[\]\\]/g, String.raw`\$&`).replaceAll('*', '.*').replaceAll('?', '.')
  return new RegExp(`^${escaped}$`, 'i')
}
