import https from 'node:https'
import type {IncomingHttpHeaders} from 'node:http'
import type {TLSSocket} from 'node:tls'
import tls from 'node:tls'
import {X509Certificate} from 'node:crypto'

import {InvalidInputError} from '../errors.js'
import {
  MispAuthError,
  MispConnectionError,
  MispForbiddenError,
  MispHtmlResponseError,
  MispInvalidJsonError,
  MispNotFoundError,
  MispRateLimitError,
  MispServerError,
  MispTlsError,
  MispUnexpectedStatusError,
  MispValidationError,
  type MispRequestInfo,
} from './client-errors.js'
import type {
  MispActionResult,
  MispAttribute,
  MispAuthKey,
  MispAuthKeyListItem,
  MispCacheResult,
  MispCurrentUser,
  MispFeed,
  MispFeedListItem,
  MispFetchResult,
  MispNewAuthKey,
  MispRole,
  MispUser,
  MispUserListItem,
  MispVersion,
  MispWarninglist,
  NewAuthKey,
  NewRole,
  NewUser,
} from './client-types.js'

export * from './client-errors.js'
export type * from './client-types.js'

/** MISP accepts only auth keys of exactly 40 letters and digits (AppController and UserShell). */
export const AUTH_KEY_PATTERN = /^[A-Za-z0-9]{40}$/

export interface MispClientOptions {
  /** Base URL, e.g. https://misp.example.org:8443 (a trailing slash is ignored). */
  url: string
  /** Auth key sent in the Authorization header. It never appears in messages or logs. */
  key: string
  /** PEM CA certificate(s) that verify the server; without it the system trust store is used. */
  ca?: string | Buffer
  /**
   * SHA-256 fingerprint (colon-separated hex) of the one server certificate to accept. With a
   * pin, the host name check is replaced by the fingerprint check; the chain must still verify
   * against `ca`, so pass the pinned self-signed certificate as `ca` too.
   */
  pinnedFingerprint?: string
  /** Milliseconds for the TCP and TLS handshake. Default 10 s. */
  connectTimeoutMs?: number
  /** Milliseconds of silence allowed while waiting for the response. Default 120 s, because feed actions in sync mode are slow. */
  readTimeoutMs?: number
  /** Retries after a connection error or a 5xx response (including the 503 "MISP is loading" page). Default 3. */
  retries?: number
  /** First back-off delay in milliseconds; doubles per retry, capped at 15 s. Default 1 s. */
  retryDelayMs?: number
  /** Receives one line per request and per retry, without headers or bodies. */
  log?: (line: string) => void
}

export interface MispResponse {
  status: number
  headers: IncomingHttpHeaders
  body: unknown
}

interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

const RETRYABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'misp_connect_timeout', 'misp_read_timeout'])

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'misp_pin_mismatch',
])

// MISP's messages for a key it does not accept (AppController, AuthKey model).
const AUTH_FAILURE = /Authentication failed|Auth key is expired|not possible to use this Auth key|authkey/i

/**
 * The one MISP REST client of the product. Every call sends the key in `Authorization` and
 * `Accept` / `Content-Type: application/json` (MISP black-holes a POST without Content-Type and
 * treats a request without Accept like a browser request). Connection errors and 5xx responses are
 * retried with back-off; every other failure becomes a distinct MispError subclass.
 */
export class MispClient {
  readonly baseUrl: URL
  private readonly key: string
  private readonly options: MispClientOptions

  constructor(options: MispClientOptions) {
    this.baseUrl = parseMispUrl(options.url)
    if (!AUTH_KEY_PATTERN.test(options.key)) {
      throw new InvalidInputError(
        `The MISP auth key for ${this.baseUrl.origin} is invalid: MISP auth keys are exactly 40 letters and digits (the key has ${options.key.length} characters).`,
        'Check the key file: it must hold only the key, on one line.',
      )
    }

    this.key = options.key
    this.options = options
  }

  // ---- Instance ----

  async getVersion(): Promise<MispVersion> {
    return (await this.request('GET', '/servers/getVersion')).body as MispVersion
  }

  async getCurrentUser(): Promise<MispCurrentUser> {
    return (await this.request('GET', '/users/view/me')).body as MispCurrentUser
  }

  // ---- Feeds ----

  /** Imports MISP's bundled default feed list. MISP adds the feeds disabled and skips URLs it already has. */
  async loadDefaultFeeds(): Promise<MispActionResult> {
    return (await this.request('POST', '/feeds/loadDefaultFeeds', {})).body as MispActionResult
  }

  async listFeeds(): Promise<MispFeed[]> {
    const body = (await this.request('GET', '/feeds/index')).body
    return expectArray<MispFeedListItem>(body, 'GET /feeds/index').map((item) => item.Feed)
  }

  /** Changes only the given fields of a feed, e.g. `{enabled: true, caching_enabled: true}`. */
  async editFeed(id: string, fields: Partial<MispFeed>): Promise<MispFeed> {
    const body = (await this.request('POST', `/feeds/edit/${encodeId(id)}`, {Feed: fields})).body as {Feed: MispFeed}
    return body.Feed
  }

  async enableFeed(id: string): Promise<MispActionResult> {
    return (await this.request('POST', `/feeds/enable/${encodeId(id)}`, {})).body as MispActionResult
  }

  async disableFeed(id: string): Promise<MispActionResult> {
    return (await this.request('POST', `/feeds/disable/${encodeId(id)}`, {})).body as MispActionResult
  }

  /** Queues (or, without background jobs, runs) a fetch of every enabled feed into events. */
  async fetchFromAllFeeds(): Promise<MispFetchResult> {
    return (await this.request('POST', '/feeds/fetchFromAllFeeds', {})).body as MispFetchResult
  }

  /** Fetches one feed. MISP returns HTTP 200 even on failure, and `result` describes what happened. */
  async fetchFromFeed(id: string): Promise<MispFetchResult> {
    return (await this.request('POST', `/feeds/fetchFromFeed/${encodeId(id)}`, {})).body as MispFetchResult
  }

  /**
   * Caches the feeds of a scope (`all`, `freetext`, `csv`, `misp` or a feed id) in Redis.
   * MISP without background jobs responds to a failure of any feed in scope with a 302 to /feeds
   * and an empty body. That becomes `{ok: false}` here, not an exception.
   */
  async cacheFeeds(scope = 'all'): Promise<MispCacheResult> {
    try {
      const body = (await this.request('POST', `/feeds/cacheFeeds/${encodeId(scope)}`, {})).body as MispActionResult
      return {ok: body.success !== false && body.saved !== false, message: String(body.message ?? body.name ?? '')}
    } catch (error) {
      if (error instanceof MispUnexpectedStatusError && error.request.status === 302) {
        return {ok: false, message: 'MISP could not cache at least one feed of this scope (it responded with a redirect to /feeds).'}
      }

      throw error
    }
  }

  // ---- Warninglists ----

  async listWarninglists(): Promise<MispWarninglist[]> {
    const body = (await this.request('GET', '/warninglists/index')).body as {Warninglists?: Array<{Warninglist: MispWarninglist}>}
    return expectArray<{Warninglist: MispWarninglist}>(body?.Warninglists, 'GET /warninglists/index').map((item) => item.Warninglist)
  }

  /** Enables the warninglists with these ids. MISP reports a failure here with HTTP 200 and `saved: false`. */
  async enableWarninglists(ids: readonly string[]): Promise<MispActionResult> {
    return (await this.request('POST', '/warninglists/toggleEnable', {id: ids, enabled: 1})).body as MispActionResult
  }

  /** Loads the warninglists bundled with MISP into its database (new lists arrive disabled). */
  async updateWarninglists(): Promise<MispActionResult> {
    return (await this.request('POST', '/warninglists/update', {})).body as MispActionResult
  }

  // ---- Roles, users and auth keys ----

  async listRoles(): Promise<MispRole[]> {
    const body = (await this.request('GET', '/roles/index')).body
    return expectArray<{Role: MispRole}>(body, 'GET /roles/index').map((item) => item.Role)
  }

  async addRole(role: NewRole): Promise<MispRole> {
    return ((await this.request('POST', '/admin/roles/add', {Role: role})).body as {Role: MispRole}).Role
  }

  async listUsers(): Promise<MispUserListItem[]> {
    return expectArray<MispUserListItem>((await this.request('GET', '/admin/users/index')).body, 'GET /admin/users/index')
  }

  async addUser(user: NewUser): Promise<MispUser> {
    return ((await this.request('POST', '/admin/users/add', {User: user})).body as {User: MispUser}).User
  }

  /** Lists auth keys (without the keys themselves), optionally of one user. */
  async listAuthKeys(userId?: string): Promise<MispAuthKey[]> {
    const body = (await this.request('GET', '/auth_keys/index')).body
    const keys = expectArray<MispAuthKeyListItem>(body, 'GET /auth_keys/index').map((item) => item.AuthKey)
    return userId === undefined ? keys : keys.filter((key) => key.user_id === userId)
  }

  /** Creates an auth key. The response is the only place MISP shows it in clear, in `authkey_raw`. */
  async addAuthKey(userId: string, key: NewAuthKey = {}): Promise<MispNewAuthKey> {
    return ((await this.request('POST', `/auth_keys/add/${encodeId(userId)}`, key)).body as {AuthKey: MispNewAuthKey}).AuthKey
  }

  async deleteAuthKey(id: string): Promise<MispActionResult> {
    return (await this.request('POST', `/auth_keys/delete/${encodeId(id)}`, {})).body as MispActionResult
  }

  // ---- Attributes ----

  /** Runs attributes/restSearch with `returnFormat: json` and returns the attributes. */
  async searchAttributes(query: Record<string, unknown>): Promise<MispAttribute[]> {
    const body = (await this.request('POST', '/attributes/restSearch', {...query, returnFormat: 'json'})).body as {response?: {Attribute?: MispAttribute[]}}
    return expectArray<MispAttribute>(body?.response?.Attribute, 'POST /attributes/restSearch')
  }

  // ---- Transport ----

  /** Sends one request with retries and returns the parsed JSON body, or throws a MispError. */
  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<MispResponse> {
    const retries = this.options.retries ?? 3
    const baseDelay = this.options.retryDelayMs ?? 1000
    const info: MispRequestInfo = {method, path}

    for (let attempt = 0; ; attempt++) {
      const started = Date.now()
      let failure: Error | undefined

      let raw: RawResponse | undefined
      try {
        raw = await this.send(method, path, body)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? ''
        if (TLS_ERROR_CODES.has(code)) throw await this.tlsError(info, error)
        const mispError = new MispConnectionError(
          `Could not reach MISP at ${this.baseUrl.origin} for ${method} ${path}: ${(error as Error).message}`,
          info,
          error,
        )
        if (!RETRYABLE_NETWORK_CODES.has(code) && !/socket hang up/i.test((error as Error).message)) throw mispError
        if (attempt >= retries) throw mispError
        failure = error as Error
      }

      if (raw !== undefined) {
        this.options.log?.(`MISP ${method} ${path} -> ${raw.status} in ${Date.now() - started} ms`)
        if (raw.status < 500 || attempt >= retries) return this.interpret(raw, {...info, status: raw.status})
        failure = new Error(`HTTP ${raw.status}${isLoadingPage(raw) ? ' (MISP is loading)' : ''}`)
      }

      const delay = Math.min(baseDelay * 2 ** attempt, 15_000)
      this.options.log?.(`MISP ${method} ${path} failed (${failure?.message}); retry ${attempt + 1} of ${retries} in ${delay} ms`)
      await sleep(delay)
    }
  }

  private send(method: string, path: string, body: unknown): Promise<RawResponse> {
    const url = new URL(this.baseUrl.pathname.replace(/\/$/, '') + path, this.baseUrl)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8')
    const headers: Record<string, string | number> = {
      Authorization: this.key,
      Accept: 'application/json',
      'Content-Type': 'application/json',
      'User-Agent': 'mispwazuh',
    }
    if (payload) headers['Content-Length'] = payload.length

    const connectTimeout = this.options.connectTimeoutMs ?? 10_000
    const readTimeout = this.options.readTimeoutMs ?? 120_000
    const pin = this.options.pinnedFingerprint === undefined ? undefined : normalizeFingerprint(this.options.pinnedFingerprint)

    return new Promise<RawResponse>((resolve, reject) => {
      const requestOptions: https.RequestOptions = {method, headers, agent: false}
      if (this.options.ca !== undefined) requestOptions.ca = this.options.ca
      // Node asserts that checkServerIdentity is a function when the key is present, so it is set only for a pin.
      if (pin !== undefined) requestOptions.checkServerIdentity = (_host, cert) => checkPin(cert.fingerprint256, pin)
      const request = https.request(url, requestOptions)

      const connectTimer = setTimeout(() => request.destroy(withCode(new Error(`no TLS connection within ${connectTimeout} ms`), 'misp_connect_timeout')), connectTimeout)
      request.on('socket', (socket) => {
        socket.once('secureConnect', () => clearTimeout(connectTimer))
      })
      request.setTimeout(readTimeout, () => request.destroy(withCode(new Error(`no response within ${readTimeout} ms`), 'misp_read_timeout')))

      request.on('response', (response) => {
        clearTimeout(connectTimer)
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks)}))
        response.on('error', reject)
      })
      request.on('error', (error) => {
        clearTimeout(connectTimer)
        reject(error)
      })
      request.end(payload)
    })
  }

  private interpret(raw: RawResponse, info: MispRequestInfo): MispResponse {
    const where = `${info.method} ${info.path} on ${this.baseUrl.origin}`
    const text = raw.body.toString('utf8')
    const contentType = String(raw.headers['content-type'] ?? '')
    const looksHtml = /text\/html/i.test(contentType) || /^\s*</.test(text)

    if (raw.status >= 300 && raw.status < 400) {
      const location = typeof raw.headers.location === 'string' ? raw.headers.location : undefined
      if (location && /\/users\/login/.test(location)) {
        throw new MispAuthError(`MISP redirected ${where} to its login page: the auth key was not accepted.`, info)
      }

      throw new MispUnexpectedStatusError(`MISP responded to ${where} with HTTP ${raw.status}${location ? ` to ${location}` : ''}.`, info, location)
    }

    if (looksHtml) {
      const excerpt = htmlExcerpt(text)
      if (raw.status >= 500) throw new MispServerError(`MISP responded to ${where} with HTTP ${raw.status}: ${excerpt}`, info)
      throw new MispHtmlResponseError(`MISP responded to ${where} with an HTML page (HTTP ${raw.status}) instead of JSON: ${excerpt}`, info, excerpt)
    }

    let parsed: unknown = null
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text)
      } catch (error) {
        if (raw.status >= 500) throw new MispServerError(`MISP responded to ${where} with HTTP ${raw.status}: ${text.slice(0, 200)}`, info)
        throw new MispInvalidJsonError(`MISP responded to ${where} (HTTP ${raw.status}) with a body that is not valid JSON: ${text.slice(0, 200)}`, info, error)
      }
    }

    const message = errorMessage(parsed)
    if (raw.status >= 200 && raw.status < 300) {
      if (isRecord(parsed) && parsed.saved === false && 'errors' in parsed) {
        throw new MispValidationError(`MISP rejected ${where}: ${message ?? 'not saved'}`, info, parsed.errors)
      }

      return {status: raw.status, headers: raw.headers, body: parsed}
    }

    if (raw.status === 403) {
      if (isRecord(parsed) && parsed.saved === false) {
        throw new MispValidationError(`MISP rejected ${where}: ${message ?? 'not saved'}`, info, parsed.errors)
      }

      if (message && AUTH_FAILURE.test(message)) throw new MispAuthError(`MISP did not accept the auth key for ${where}: ${message}`, info)
      throw new MispForbiddenError(`MISP denied ${where}: ${message ?? 'forbidden'}`, info)
    }

    if (raw.status === 404) throw new MispNotFoundError(`MISP found nothing for ${where}: ${message ?? 'not found'}`, info)
    // MISP raises MethodNotAllowed for an unknown id in several actions (feeds/enable, feeds/disable).
    if (raw.status === 405 && message && /^Invalid /i.test(message)) throw new MispNotFoundError(`MISP found nothing for ${where}: ${message}`, info)

    if (raw.status === 429) {
      const reset = Number(raw.headers['x-rate-limit-reset'] ?? raw.headers['retry-after'])
      throw new MispRateLimitError(`MISP rate limit reached for ${where}: ${message ?? 'rate limit exceeded'}`, info, Number.isFinite(reset) ? reset : undefined)
    }

    if (raw.status >= 500) throw new MispServerError(`MISP failed on ${where} with HTTP ${raw.status}: ${message ?? text.slice(0, 200)}`, info)
    throw new MispUnexpectedStatusError(`MISP responded to ${where} with HTTP ${raw.status}: ${message ?? text.slice(0, 200)}`, info, undefined)
  }

  private async tlsError(info: MispRequestInfo, error: unknown): Promise<MispTlsError> {
    let presented: ServerCertificate | undefined
    try {
      presented = await fetchServerCertificate(this.baseUrl.href, this.options.connectTimeoutMs ?? 10_000)
    } catch {
      // The fingerprint is extra information; the TLS error itself is the failure to report.
    }

    const reason = (error as Error).message
    const fingerprint = presented?.fingerprint256
    const described = fingerprint ? ` The server presented a certificate with SHA-256 fingerprint ${fingerprint} (subject ${presented?.subject || 'none'}, issuer ${presented?.issuer || 'none'}).` : ''
    return new MispTlsError(`The TLS certificate of MISP at ${this.baseUrl.origin} is not trusted: ${reason}.${described}`, info, fingerprint, error)
  }
}

/** A certificate as a server presents it, read without trusting it. */
export interface ServerCertificate {
  /** SHA-256 fingerprint, colon-separated upper-case hex (as openssl prints it). */
  fingerprint256: string
  subject: string
  issuer: string
  subjectAltName: string
  validTo: string
  /** The leaf certificate in PEM. */
  pem: string
  /** The topmost certificate of the chain the server sent, in PEM (the leaf itself when self-signed). */
  topPem: string
  selfSigned: boolean
}

/**
 * Connects to the TLS port of `url` without verifying it and returns the certificate the server
 * presents, so a person can compare its fingerprint before the product pins it. Sends no request.
 */
export async function fetchServerCertificate(url: string, timeoutMs = 10_000): Promise<ServerCertificate> {
  const target = parseMispUrl(url)
  const port = Number(target.port || 443)

  return new Promise<ServerCertificate>((resolve, reject) => {
    const socket: TLSSocket = tls.connect({
      host: target.hostname,
      port,
      servername: isIpAddress(target.hostname) ? undefined : target.hostname,
      rejectUnauthorized: false,
    })
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake with ${target.host} within ${timeoutMs} ms`)), timeoutMs)

    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const leaf = socket.getPeerCertificate(true)
      socket.end()
      if (!leaf || !leaf.raw) {
        reject(new Error(`${target.host} presented no certificate`))
        return
      }

      let top = leaf
      const seen = new Set<string>()
      while (top.issuerCertificate && top.issuerCertificate !== top && !seen.has(top.fingerprint256)) {
        seen.add(top.fingerprint256)
        top = top.issuerCertificate
      }

      const x509 = new X509Certificate(leaf.raw)
      resolve({
        fingerprint256: leaf.fingerprint256,
        subject: x509.subject.replaceAll('\n', ', '),
        issuer: x509.issuer.replaceAll('\n', ', '),
        subjectAltName: x509.subjectAltName ?? '',
        validTo: x509.validTo,
        pem: x509.toString(),
        topPem: new X509Certificate(top.raw).toString(),
        selfSigned: x509.checkIssued(x509),
      })
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** Parses and checks a MISP base URL: https only, no credentials, query or fragment. */
export function parseMispUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidInputError(`Invalid MISP URL "${value}".`, 'Give the URL MISP is reached at, for example https://misp.example.org or https://192.0.2.10:8443.')
  }

  if (url.protocol !== 'https:') {
    throw new InvalidInputError(`Invalid MISP URL "${value}": it must start with https://.`, 'mispwazuh talks to MISP over verified TLS only.')
  }

  if (url.username || url.password || url.search || url.hash) {
    throw new InvalidInputError(`Invalid MISP URL "${url.origin}...": it must not contain a user, password, query or fragment.`, 'Give only scheme, host, port and path.')
  }

  return url
}

/** Normalises a SHA-256 fingerprint to colon-separated upper-case hex. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/^sha256[:/]*/i, '').replaceAll(':', '').toUpperCase()
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new InvalidInputError(`Invalid SHA-256 fingerprint "${value}".`, 'Give 64 hex digits, with or without colons, as openssl x509 -fingerprint -sha256 prints them.')
  }

  return hex.match(/../g)!.join(':')
}

/** Returns the SHA-256 fingerprint of a PEM certificate. */
export function certificateFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256
}

function checkPin(presented: string, pinned: string): Error | undefined {
  if (presented.toUpperCase() === pinned) return undefined
  return withCode(new Error(`the server certificate has fingerprint ${presented}, but ${pinned} is pinned`), 'misp_pin_mismatch')
}

function isLoadingPage(raw: RawResponse): boolean {
  return raw.status === 503 && /MISP is loading/i.test(raw.body.toString('utf8'))
}

function htmlExcerpt(html: string): string {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(html)?.[1]
  const text = (title ?? html.replaceAll(/<[^>]*>/g, ' ')).replaceAll(/\s+/g, ' ').trim()
  return text.slice(0, 200) || '(empty page)'
}

function errorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined
  const value = body.message ?? body.name ?? body.errors
  return typeof value === 'string' ? value : undefined
}

function expectArray<T>(value: unknown, what: string): T[] {
  if (Array.isArray(value)) return value as T[]
  throw new MispInvalidJsonError(`MISP responded to ${what} with ${value === null ? 'null' : typeof value} where a list was expected.`, {method: what.split(' ')[0] ?? '', path: what.split(' ')[1] ?? ''})
}

function encodeId(id: string): string {
  return encodeURIComponent(id)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[')
}

function withCode(error: Error, code: string): Error {
  ;(error as NodeJS.ErrnoException).code = code
  return error
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}
