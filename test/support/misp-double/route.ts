/**
 * The contract between the MISP double's server and its endpoint families (routes/*.ts), plus the
 * response shapes MISP 2.5.1 uses, as recorded in test/fixtures/misp-recorded.
 */
import type {IncomingHttpHeaders} from 'node:http'
import type {Identity, MispStore, Permission} from './store.js'

export interface RouteRequest {
  method: string
  /** Path without the query string, e.g. "/events/view/5". */
  path: string
  /** Values of the ":name" segments of the route's pattern. */
  params: Record<string, string>
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** Parsed JSON body; undefined when the body is empty. */
  body: unknown
  /** The authenticated identity; null only for routes with `auth: 'none'`. */
  identity: Identity | null
  remoteAddress: string
}

export interface RouteResponse {
  status: number
  /** Body text as sent. */
  text: string
  contentType?: string
  headers?: Record<string, string>
}

export interface Route {
  method: string | readonly string[]
  /** Path pattern with ":name" segments, e.g. "/events/view/:id". */
  pattern: string
  /** 'required' (default) responds 403 to a request without a valid auth key, as MISP does. */
  auth?: 'required' | 'none'
  /** Role permission needed; without it the response is MISP's 403 permission error. */
  permission?: Permission
  /**
   * Whether this is one of MISP's automation actions (restSearch and other exports), which respond
   * with JSON whatever the Accept header says. Other actions redirect a request without
   * `Accept: application/json` to the login page, as the web UI does.
   */
  automation?: boolean
  handle(request: RouteRequest, store: MispStore): RouteResponse
}

export const jsonContentType = 'application/json; charset=UTF-8'

/** MISP's text for a missing, unknown, disabled or expired auth key (HTTP 403). */
export const authenticationFailedMessage =
  'Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.'

export const permissionDeniedMessage = 'You do not have permission to use this functionality.'

/** Encode as PHP's json_encode does by default: compact, with "/" escaped as "\/". */
export function phpCompactJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('/', '\\/')
}

/** Encode as MISP's pretty-printed API responses: 4-space indentation, slashes not escaped. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 4)
}

export function jsonResponse(status: number, text: string, headers?: Record<string, string>): RouteResponse {
  return headers === undefined ? {status, text, contentType: jsonContentType} : {status, text, contentType: jsonContentType, headers}
}

/** Build an exception response: {"name", "message", "url"} in compact JSON, as MISP renders HTTP errors. */
export function errorResponse(status: number, message: string, url: string): RouteResponse {
  return jsonResponse(status, phpCompactJson({name: message, message, url}))
}

/** Build a failed-save response: HTTP 403 with `saved: false` and the validation errors. */
export function saveFailureResponse(message: string, url: string, errors: Record<string, string[]>): RouteResponse {
  return jsonResponse(403, prettyJson({saved: false, name: message, message, url, errors}))
}

/** Build the response of a successful action that returns no object. */
export function saveSuccessResponse(message: string, url: string, id?: string): RouteResponse {
  const body: Record<string, unknown> = {saved: true, success: true, name: message, message, url}
  if (id !== undefined) body.id = id
  return jsonResponse(200, prettyJson(body))
}

/** Return a scalar, list or {"OR": [...]} filter as a list of strings; empty entries are dropped. */
export function filterValues(filter: unknown): string[] {
  if (filter === undefined || filter === null) return []
  if (Array.isArray(filter)) return filter.flatMap((entry) => filterValues(entry))
  if (typeof filter === 'object') {
    const or = (filter as {OR?: unknown}).OR
    return or === undefined ? [] : filterValues(or)
  }
  if (typeof filter === 'string') return filter === '' ? [] : [filter]
  if (typeof filter === 'number' || typeof filter === 'boolean') return [String(filter)]
  return []
}

/** Read MISP's 0/1 style flags: true, false, or undefined when not given. */
export function flag(value: unknown): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value !== 0
  if (typeof value === 'string') return !['0', 'false', 'exclude'].includes(value.toLowerCase())
  return undefined
}

/** The body of a POST, unwrapped from {"<Model>": {...}} when wrapped, as MISP accepts both. */
export function unwrapModel(body: unknown, model: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {}
  const wrapped = (body as Record<string, unknown>)[model]
  if (typeof wrapped === 'object' && wrapped !== null && !Array.isArray(wrapped)) return wrapped as Record<string, unknown>
  return body as Record<string, unknown>
}
