/**
 * The MISP double: an HTTPS server (node:https) that serves the MISP 2.5.1 endpoints the product
 * uses, from an in-memory store, with the shapes, status codes and quirks recorded from a real
 * MISP in test/fixtures/misp-recorded. Faults can be switched on per test.
 *
 * Endpoint families live in routes/<family>.ts; adding one is one line in `routeFamilies`.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import type {Socket} from 'node:net'
import {
  authenticationFailedMessage,
  errorResponse,
  jsonContentType,
  permissionDeniedMessage,
  phpCompactJson,
  type Route,
  type RouteResponse,
} from './route.js'
import {attributeRoutes} from './routes/attributes.js'
import {eventRoutes} from './routes/events.js'
import {serverRoutes} from './routes/servers.js'
import {userRoutes} from './routes/users.js'
import {feedRoutes} from './routes/feeds.js'
import {authKeyRoutes} from './routes/auth-keys.js'
import {adminUserRoutes} from './routes/admin-users.js'
import {warninglistRoutes} from './routes/warninglists.js'
import {MispStore} from './store.js'
import {createTlsFixture, type TlsFixture} from '../tls.js'

/** Every endpoint family the double serves. */
const routeFamilies: readonly (readonly Route[])[] = [
  serverRoutes,
  userRoutes,
  attributeRoutes,
  eventRoutes,
  feedRoutes,
  authKeyRoutes,
  adminUserRoutes,
  warninglistRoutes,
]

export interface RecordedRequest {
  method: string
  /** Path with query string, as received. */
  path: string
  /** Request headers without Authorization and X-MISP-AUTH. */
  headers: Record<string, string | string[] | undefined>
  /** Parsed JSON body, the raw text when it is not JSON, or undefined when empty. */
  body: unknown
  /** Whether an auth key header was present (its value is never recorded). */
  hadAuthKey: boolean
}

export interface FixedStatusFault {
  code: number
  body: string
  contentType?: string
}

/** Faults a test can switch on; each applies to every request until cleared. */
export class Faults {
  /** Delay before each response, in milliseconds. */
  latencyMs = 0
  /** Respond to every request with this status and body. */
  fixedStatus: FixedStatusFault | null = null
  /** Respond with MISP's HTML login page (HTTP 200, text/html), as to a misrouted or UI-mode request. */
  htmlLoginPage = false
  /** Respond HTTP 200 with a body that is not valid JSON. */
  invalidJson = false
  /** Respond HTTP 200 with a valid restSearch body of at least this many bytes (0: off). */
  hugeResponseBytes = 0
  /** Close the connection without a response. */
  resetConnection = false
  /** Respond to the next N requests with the 503 "MISP is loading" page, as a starting MISP does. */
  loadingRequests = 0
  /** Apply the faults only to paths that start with this prefix (null: every path). */
  pathPrefix: string | null = null

  set(faults: Partial<Omit<Faults, 'set' | 'clear'>>): this {
    Object.assign(this, faults)
    return this
  }

  clear(): this {
    this.latencyMs = 0
    this.fixedStatus = null
    this.htmlLoginPage = false
    this.invalidJson = false
    this.hugeResponseBytes = 0
    this.resetConnection = false
    this.loadingRequests = 0
    this.pathPrefix = null
    return this
  }
}

export interface MispDoubleOptions {
  /** TLS material to serve; default: a new fixture for localhost, 127.0.0.1 and ::1, removed on stop. */
  tls?: TlsFixture
  /** Address to listen on (default 127.0.0.1). */
  host?: string
  /** Port (default 0: any free port). */
  port?: number
  /** Store to serve (default: a new one with the seeded admin). */
  store?: MispStore
}

export interface MispDouble {
  /** Base URL, e.g. https://127.0.0.1:40123 */
  url: string
  port: number
  host: string
  /** CA certificate file that signed the server certificate. */
  caFile: string
  tls: TlsFixture
  store: MispStore
  faults: Faults
  /** Every request received, in order. */
  requests: RecordedRequest[]
  /** Clear key of the seeded site admin. */
  adminKey: string
  stop(): Promise<void>
}

const loginPageHtml = `<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<title>Users - MISP</title>
</head>
<body>
<form action="/users/login" id="UserLoginForm" method="post" accept-charset="utf-8">
<legend>Login</legend>
<input name="data[User][email]" type="text" id="UserEmail"/>
<input name="data[User][password]" type="password" id="UserPassword"/>
<button type="submit">Login</button>
</form>
</body>
</html>
`

const loadingPageHtml = `<!DOCTYPE html>
<html><head><title>MISP</title><meta http-equiv="refresh" content="5"></head>
<body><h1>MISP is loading...</h1><p>Please wait while MISP is starting up.</p></body></html>
`

interface MatchedRoute {
  route: Route
  params: Record<string, string>
}

function matchRoute(routes: readonly Route[], method: string, path: string): MatchedRoute | 'method' | null {
  const segments = path.split('/').filter((segment) => segment !== '')
  let methodMismatch = false
  for (const route of routes) {
    const patternSegments = route.pattern.split('/').filter((segment) => segment !== '')
    if (patternSegments.length !== segments.length) continue
    const params: Record<string, string> = {}
    const matches = patternSegments.every((patternSegment, index) => {
      const segment = segments[index] ?? ''
      if (patternSegment.startsWith(':')) {
        params[patternSegment.slice(1)] = decodeURIComponent(segment)
        return true
      }
      return patternSegment.toLowerCase() === segment.toLowerCase()
    })
    if (!matches) continue
    const methods = typeof route.method === 'string' ? [route.method] : route.method
    if (!methods.includes(method)) {
      methodMismatch = true
      continue
    }
    return {route, params}
  }
  return methodMismatch ? 'method' : null
}

function hugeRestSearchBody(minimumBytes: number): string {
  const item = JSON.stringify({
    id: '1', event_id: '1', object_id: '0', object_relation: null, category: 'Network activity', type: 'domain',
    to_ids: true, uuid: '00000000-0000-4000-8000-00000000ffff', timestamp: '1796411597', distribution: '5',
    sharing_group_id: '0', comment: 'x'.repeat(200), deleted: false, disable_correlation: false, first_seen: null,
    last_seen: null, value: 'padding.example',
    Event: {org_id: '1', distribution: '0', publish_timestamp: '0', id: '1', info: 'padding', orgc_id: '1', uuid: '00000000-0000-4000-8000-00000000fffe'},
  })
  const count = Math.ceil(minimumBytes / (item.length + 1)) + 1
  return `{"response": {"Attribute": [${Array.from({length: count}, () => item).join(',')}]}}\n`
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value
}

/** Start the MISP double; resolve once it listens. */
export async function startMispDouble(options: MispDoubleOptions = {}): Promise<MispDouble> {
  const ownTls = options.tls === undefined
  const tls = options.tls ?? (await createTlsFixture())
  const store = options.store ?? new MispStore()
  const faults = new Faults()
  const requests: RecordedRequest[] = []
  const routes = routeFamilies.flat()
  const sockets = new Set<Socket>()

  function send(response: ServerResponse, routed: RouteResponse): void {
    const headers: Record<string, string> = {...routed.headers}
    if (routed.contentType !== undefined) headers['Content-Type'] = routed.contentType
    headers['Content-Length'] = String(Buffer.byteLength(routed.text))
    response.writeHead(routed.status, headers)
    response.end(routed.text)
  }

  function respondWithFault(request: IncomingMessage, response: ServerResponse, path: string): boolean {
    if (faults.pathPrefix !== null && !path.startsWith(faults.pathPrefix)) return false

    if (faults.resetConnection) {
      // Node cannot send a TCP reset on a TLS socket, so destroying it closes the connection
      // without a response.
      request.socket.destroy()
      return true
    }
    if (faults.loadingRequests > 0) {
      faults.loadingRequests -= 1
      send(response, {status: 503, text: loadingPageHtml, contentType: 'text/html; charset=UTF-8', headers: {'Retry-After': '5'}})
      return true
    }
    if (faults.fixedStatus !== null) {
      send(response, {status: faults.fixedStatus.code, text: faults.fixedStatus.body, contentType: faults.fixedStatus.contentType ?? jsonContentType})
      return true
    }
    if (faults.htmlLoginPage) {
      send(response, {status: 200, text: loginPageHtml, contentType: 'text/html; charset=UTF-8'})
      return true
    }
    if (faults.invalidJson) {
      send(response, {status: 200, text: '{"response": {"Attribute": [{"id":"1","event_id":', contentType: jsonContentType})
      return true
    }
    if (faults.hugeResponseBytes > 0) {
      send(response, {status: 200, text: hugeRestSearchBody(faults.hugeResponseBytes), contentType: jsonContentType})
      return true
    }
    return false
  }

  function routeResponse(request: IncomingMessage, path: string, query: URLSearchParams, body: unknown): RouteResponse {
    const method = request.method ?? 'GET'
    const matched = matchRoute(routes, method, path)
    if (matched === null) return errorResponse(404, `The requested address '${path}' was not found on this server.`, path)
    if (matched === 'method') return errorResponse(405, 'Method Not Allowed', path)
    const {route, params} = matched

    const hasBody = body !== undefined
    if (method !== 'GET' && hasBody && request.headers['content-type'] === undefined) {
      return errorResponse(400, 'The request has been black-holed', path)
    }

    const accept = request.headers.accept ?? ''
    if (!route.automation && !accept.includes('application/json')) {
      return {status: 302, text: '', headers: {Location: '/users/login'}}
    }

    const remoteAddress = request.socket.remoteAddress ?? ''
    const identity = route.auth === 'none'
      ? null
      : store.authenticate(headerText(request.headers.authorization) ?? headerText(request.headers['x-misp-auth']), remoteAddress)
    if (route.auth !== 'none' && identity === null) return errorResponse(403, authenticationFailedMessage, path)
    if (route.permission !== undefined && identity !== null && identity.role.permissions[route.permission] !== true) {
      return errorResponse(403, permissionDeniedMessage, path)
    }

    return route.handle({method, path, params, query, headers: request.headers, body, identity, remoteAddress}, store)
  }

  const server = https.createServer({cert: tls.server.certPem, key: tls.server.keyPem}, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      void (async () => {
        const url = new URL(request.url ?? '/', 'https://misp.double')
        const text = Buffer.concat(chunks).toString('utf8')
        const body = parseBody(text)
        const {authorization, 'x-misp-auth': mispAuth, ...headers} = request.headers
        requests.push({
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          headers,
          body,
          hadAuthKey: authorization !== undefined || mispAuth !== undefined,
        })

        if (faults.latencyMs > 0 && (faults.pathPrefix === null || url.pathname.startsWith(faults.pathPrefix))) {
          await new Promise((resolve) => setTimeout(resolve, faults.latencyMs))
        }
        if (response.destroyed || request.socket.destroyed) return
        if (respondWithFault(request, response, url.pathname)) return

        try {
          send(response, routeResponse(request, url.pathname, url.searchParams, body))
        } catch (error) {
          send(response, {status: 500, text: phpCompactJson({name: 'An Internal Error Has Occurred.', message: String(error), url: url.pathname}), contentType: jsonContentType})
        }
      })()
    })
  })

  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  // A client that gives up mid-handshake (a TLS rejection test) is not a server failure.
  server.on('tlsClientError', () => {})

  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const {port} = server.address() as AddressInfo
  const urlHost = host.includes(':') ? `[${host}]` : host

  return {
    url: `https://${urlHost}:${port}`,
    port,
    host,
    caFile: tls.ca.certFile,
    tls,
    store,
    faults,
    requests,
    adminKey: store.adminKey,
    async stop() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (ownTls) tls.cleanup()
    },
  }
}
