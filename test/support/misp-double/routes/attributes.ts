/** Attributes: POST /attributes/restSearch and POST /attributes/add/{event_id}. */
import {
  errorResponse,
  filterValues,
  flag,
  jsonResponse,
  prettyJson,
  saveFailureResponse,
  type Route,
  type RouteRequest,
} from '../route.js'
import {addedAttributeShape, contextEventShape, searchAttributeShape, searchEventShape, tagShape, tagsOf} from '../shapes.js'
import {normaliseIp, type AttributeInput, type MispAttribute, type MispStore} from '../store.js'

/** Compare the way MISP's utf8mb3_unicode_ci columns do: case-insensitive, IPv6 compressed first. */
function comparable(value: string): string {
  return (normaliseIp(value) ?? value).toLowerCase()
}

/** Build a matcher for one value filter entry; "%" is SQL LIKE's wildcard. */
function valueMatcher(filter: string): (candidate: string) => boolean {
  const expected = comparable(filter)
  if (!expected.includes('%')) return (candidate) => comparable(candidate) === expected
  const pattern = new RegExp(`^${expected.split('%').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i')
  return (candidate) => pattern.test(candidate)
}

/** value1 and value2 of an attribute: the halves of a composite value, else the value and "". */
function valueHalves(attribute: MispAttribute): string[] {
  if (attribute.type.includes('|') || attribute.type === 'malware-sample') return attribute.value.split('|')
  return [attribute.value]
}

function readFilters(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {}
  const filters = body as Record<string, unknown>
  const request = filters.request
  return typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : filters
}

function deletedFilter(filter: unknown): (deleted: boolean) => boolean {
  const values = filterValues(filter).map((value) => flag(value))
  if (values.length === 0) return (deleted) => !deleted
  return (deleted) => values.includes(deleted)
}

/**
 * Search attributes as MISP's restSearch does: filters are ANDed, list entries ORed. A missing or
 * empty value filter means no value filter at all, so an empty value returns every attribute.
 */
export function searchAttributes(store: MispStore, filters: Record<string, unknown>): MispAttribute[] {
  const valueMatchers = filterValues(filters.value).map((value) => valueMatcher(value))
  const types = new Set(filterValues(filters.type))
  const categories = new Set(filterValues(filters.category))
  const eventIds = new Set(filterValues(filters.eventid))
  const toIds = flag(filters.to_ids)
  const published = flag(filters.published)
  const enforceWarninglist = flag(filters.enforceWarninglist) === true
  const deletedAllowed = deletedFilter(filters.deleted)

  return [...store.attributes.values()].filter((attribute) => {
    const event = store.events.get(attribute.event_id)
    if (event === undefined) return false
    if (!deletedAllowed(attribute.deleted)) return false
    if (types.size > 0 && !types.has(attribute.type)) return false
    if (categories.size > 0 && !categories.has(attribute.category)) return false
    if (eventIds.size > 0 && !eventIds.has(attribute.event_id)) return false
    if (toIds !== undefined && attribute.to_ids !== toIds) return false
    if (published !== undefined && event.published !== published) return false
    if (valueMatchers.length > 0) {
      const halves = valueHalves(attribute)
      if (!valueMatchers.some((matches) => halves.some((half) => matches(half)))) return false
    }
    if (enforceWarninglist && store.warninglistHits(attribute.value).length > 0) return false
    return true
  })
}

function pageOf<T>(items: T[], filters: Record<string, unknown>): T[] {
  const limit = Number(filters.limit)
  if (!Number.isInteger(limit) || limit <= 0) return items
  const page = Number(filters.page)
  const pageNumber = Number.isInteger(page) && page > 0 ? page : 1
  return items.slice((pageNumber - 1) * limit, pageNumber * limit)
}

function restSearchItem(store: MispStore, attribute: MispAttribute, filters: Record<string, unknown>): string {
  const event = store.events.get(attribute.event_id)
  if (event === undefined) throw new Error(`attribute ${attribute.id} has no event`)
  const item = searchAttributeShape(attribute)
  item.Event = flag(filters.includeContext) === true ? contextEventShape(store, event) : searchEventShape(event)

  const tags = tagsOf(store, attribute.tagIds).map((tag) => tagShape(tag))
  if (flag(filters.includeEventTags) === true) {
    tags.push(...tagsOf(store, event.tagIds).map((tag) => tagShape(tag, true)))
  }
  if (tags.length > 0) item.Tag = tags
  return JSON.stringify(item)
}

function restSearch(request: RouteRequest, store: MispStore) {
  if (request.method === 'GET' && request.query.size === 0) {
    return errorResponse(
      400,
      'Restsearch queries using GET and no parameters are not allowed. If you have passed parameters via a JSON body, make sure you use POST requests.',
      request.path,
    )
  }
  const filters = readFilters(request.body)
  const found = pageOf(searchAttributes(store, filters), filters)

  // MISP writes the wrapper with spaces, each attribute as compact JSON, and a final newline.
  const text = `{"response": {"Attribute": [${found.map((attribute) => restSearchItem(store, attribute, filters)).join(',')}]}}\n`
  return jsonResponse(200, text, {'X-Result-Count': String(found.length), 'X-Response-Format': 'json'})
}

function addAttribute(request: RouteRequest, store: MispStore) {
  const eventId = request.params.event_id ?? ''
  if (!store.events.has(eventId)) return errorResponse(404, 'Invalid event.', request.path)

  const input = (typeof request.body === 'object' && request.body !== null
    ? ((request.body as {Attribute?: unknown}).Attribute ?? request.body)
    : {}) as AttributeInput

  if (Array.isArray(input.value)) {
    const saved: Record<string, unknown>[] = []
    const errors: Record<string, Record<string, string[]>> = {}
    input.value.forEach((value, index) => {
      const result = store.addAttribute(eventId, {...input, value})
      if (result?.ok) saved.push(addedAttributeShape(result.value))
      else if (result) errors[String(index)] = result.errors
    })
    const body: Record<string, unknown> = {Attribute: saved}
    if (Object.keys(errors).length > 0) body.errors = errors
    return jsonResponse(200, prettyJson(body))
  }

  const result = store.addAttribute(eventId, input)
  if (result === null) return errorResponse(404, 'Invalid event.', request.path)
  if (!result.ok) return saveFailureResponse('Could not add Attribute', '/attributes/add', result.errors)
  return jsonResponse(200, prettyJson({Attribute: addedAttributeShape(result.value), AttributeTag: []}))
}

export const attributeRoutes: readonly Route[] = [
  {method: ['GET', 'POST'], pattern: '/attributes/restSearch', automation: true, handle: restSearch},
  {method: 'POST', pattern: '/attributes/add/:event_id', permission: 'perm_add', handle: addAttribute},
]
