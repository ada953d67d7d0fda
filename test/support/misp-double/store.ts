/**
 * In-memory data of the MISP double: organisations, roles, users, auth keys, events, attributes,
 * tags and warninglists. Ids are strings, as MISP 2.5.1 returns them, and values are normalised
 * the way MISP stores them (lower-case domains and hashes, compressed IPv6).
 */
import {randomBytes, randomUUID} from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface DescribeTypes {
  result: {
    sane_defaults: Record<string, {default_category: string; to_ids: number}>
    types: string[]
    categories: string[]
  }
}

/** MISP's attribute types with their default category and to_ids (PyMISP describeTypes.json). */
export const describeTypes: DescribeTypes = JSON.parse(
  fs.readFileSync(path.join(repositoryRoot, 'test/fixtures/misp/attributes-describeTypes.json'), 'utf8'),
) as DescribeTypes

export interface Org {
  id: string
  name: string
  uuid: string
  local: boolean
  description: string
  type: string
}

export type Permission =
  | 'perm_add' | 'perm_modify' | 'perm_modify_org' | 'perm_publish' | 'perm_delegate' | 'perm_sync'
  | 'perm_admin' | 'perm_audit' | 'perm_auth' | 'perm_site_admin' | 'perm_regexp_access' | 'perm_tagger'
  | 'perm_template' | 'perm_sharing_group' | 'perm_tag_editor' | 'perm_sighting' | 'perm_object_template'
  | 'perm_publish_zmq' | 'perm_publish_kafka' | 'perm_decaying' | 'perm_galaxy_editor' | 'perm_warninglist'
  | 'perm_view_feed_correlations' | 'perm_analyst_data' | 'perm_skip_otp'

export interface Role {
  id: string
  name: string
  permissions: Partial<Record<Permission, boolean>>
}

export interface User {
  id: string
  email: string
  org_id: string
  role_id: string
  disabled: boolean
  change_pw: boolean
  date_modified: string
}

export interface AuthKey {
  id: string
  uuid: string
  user_id: string
  /** The clear key. Real MISP stores a hash and shows the key once; the double keeps it for tests. */
  authkey: string
  comment: string
  /** Unix time as a string, "0" for no expiry. */
  expiration: string
  read_only: boolean
  allowed_ips: string[] | null
  created: string
  disabled: boolean
}

export interface Tag {
  id: string
  name: string
  colour: string
  exportable: boolean
  numerical_value: string | null
  is_galaxy: boolean
}

export interface MispEvent {
  id: string
  uuid: string
  info: string
  orgc_id: string
  org_id: string
  date: string
  threat_level_id: string
  analysis: string
  distribution: string
  published: boolean
  timestamp: string
  publish_timestamp: string
  sharing_group_id: string
  tagIds: string[]
}

export interface MispAttribute {
  id: string
  event_id: string
  object_id: string
  object_relation: string | null
  category: string
  type: string
  value: string
  to_ids: boolean
  uuid: string
  timestamp: string
  distribution: string
  sharing_group_id: string
  comment: string
  deleted: boolean
  disable_correlation: boolean
  first_seen: string | null
  last_seen: string | null
  tagIds: string[]
}

export interface Warninglist {
  id: string
  name: string
  /** "cidr" entries are networks (a plain address is a /32 or /128); other types compare strings. */
  type: 'string' | 'substring' | 'hostname' | 'cidr' | 'regex'
  enabled: boolean
  entries: string[]
}

export interface AttributeInput {
  type?: unknown
  category?: unknown
  value?: unknown
  to_ids?: unknown
  comment?: unknown
  distribution?: unknown
  deleted?: unknown
  Tag?: unknown
}

export interface EventInput {
  info?: unknown
  distribution?: unknown
  threat_level_id?: unknown
  analysis?: unknown
  date?: unknown
  published?: unknown
  Attribute?: unknown
  Tag?: unknown
}

export type ValidationErrors = Record<string, string[]>

export type SaveResult<T> = {ok: true; value: T} | {ok: false; errors: ValidationErrors}

export interface Identity {
  user: User
  role: Role
  org: Org
  authKey: AuthKey
}

/** Full permission set of MISP's stock admin role. */
const adminPermissions: Record<Permission, boolean> = {
  perm_add: true, perm_modify: true, perm_modify_org: true, perm_publish: true, perm_delegate: true,
  perm_sync: true, perm_admin: true, perm_audit: true, perm_auth: true, perm_site_admin: true,
  perm_regexp_access: true, perm_tagger: true, perm_template: true, perm_sharing_group: true,
  perm_tag_editor: true, perm_sighting: true, perm_object_template: true, perm_publish_zmq: true,
  perm_publish_kafka: true, perm_decaying: true, perm_galaxy_editor: true, perm_warninglist: true,
  perm_view_feed_correlations: true, perm_analyst_data: true, perm_skip_otp: false,
}

const userPermissions: Partial<Record<Permission, boolean>> = {
  perm_add: true, perm_modify: true, perm_auth: true, perm_tagger: true, perm_sighting: true,
  perm_analyst_data: true,
}

const readOnlyPermissions: Partial<Record<Permission, boolean>> = {perm_auth: true}

const hashLengths: Record<string, number> = {md5: 32, sha1: 40, sha256: 64, sha512: 128, imphash: 32}

/** Generate a 40-character alphanumeric auth key, as MISP does. */
export function generateAuthKey(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  const bytes = randomBytes(40)
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join('')
}

/** Return the form MISP stores an IP in: IPv6 compressed, IPv4 unchanged; null if not an IP. */
export function normaliseIp(value: string): string | null {
  const [address, prefix] = value.split('/')
  if (address === undefined || net.isIP(address) === 0) return null
  let normalised = address.toLowerCase()
  if (net.isIPv6(address)) {
    const url = new URL(`http://[${address}]/`)
    normalised = url.hostname.slice(1, -1)
  }
  return prefix === undefined ? normalised : `${normalised}/${prefix}`
}

function isDomain(value: string): boolean {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.[a-z0-9-]{2,}$/i.test(value)
}

function isHash(value: string, algorithm: string): boolean {
  const length = hashLengths[algorithm]
  return length !== undefined && value.length === length && /^[0-9a-f]+$/i.test(value)
}

function isPort(value: string): boolean {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535
}

/** Normalise one value for its type, or return the validation message MISP gives for it. */
function normaliseValue(type: string, value: string): {value: string} | {error: string} {
  const trimmed = value.trim()
  if (trimmed === '') return {error: 'Value cannot be empty.'}

  if (type === 'domain' || type === 'hostname') {
    const name = trimmed.toLowerCase().replace(/\.+$/, '')
    if (!isDomain(name)) {
      const label = type === 'domain' ? 'Domain' : 'Hostname'
      return {error: `${label} has an invalid format. Please double check the value or select type "other".`}
    }
    return {value: name}
  }

  if (type === 'ip-dst' || type === 'ip-src') {
    const ip = normaliseIp(trimmed)
    return ip === null ? {error: 'IP address has an invalid format.'} : {value: ip}
  }

  if (type in hashLengths) {
    return isHash(trimmed, type)
      ? {value: trimmed.toLowerCase()}
      : {error: `Checksum has an invalid length or format (expected: ${hashLengths[type]} hexadecimal characters). Please double check the value or select type "other".`}
  }

  if (type.includes('|') || type === 'malware-sample') {
    const parts = trimmed.split('|')
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      return {error: 'Composite type found but the value not in the composite (value1|value2) format.'}
    }
    const [first, second] = parts as [string, string]
    const [firstType, secondType] = type === 'malware-sample' ? ['filename', 'md5'] : (type.split('|') as [string, string])
    const firstResult = normaliseHalf(firstType, first)
    const secondResult = normaliseHalf(secondType, second)
    if ('error' in firstResult) return firstResult
    if ('error' in secondResult) return secondResult
    return {value: `${firstResult.value}|${secondResult.value}`}
  }

  return {value: trimmed}
}

function normaliseHalf(type: string, value: string): {value: string} | {error: string} {
  if (type === 'port') return isPort(value) ? {value} : {error: 'Port numbers have to be integers between 1 and 65535.'}
  if (type === 'ip' || type === 'ip-dst' || type === 'ip-src') return normaliseValue('ip-dst', value)
  if (type === 'domain' || type === 'hostname' || type in hashLengths) return normaliseValue(type, value)
  return {value}
}

function asBoolean(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value !== 0
  if (typeof value === 'string') return value !== '' && value !== '0' && value.toLowerCase() !== 'false'
  return fallback
}

function asIdString(value: unknown, fallback: string): string {
  if (typeof value === 'number' && Number.isInteger(value)) return String(value)
  if (typeof value === 'string' && /^\d+$/.test(value)) return value
  return fallback
}

export class MispStore {
  readonly orgs = new Map<string, Org>()
  readonly roles = new Map<string, Role>()
  readonly users = new Map<string, User>()
  readonly authKeys = new Map<string, AuthKey>()
  readonly events = new Map<string, MispEvent>()
  readonly attributes = new Map<string, MispAttribute>()
  readonly tags = new Map<string, Tag>()
  readonly warninglists = new Map<string, Warninglist>()

  /** When true, publishing responds "Job queued", as MISP with background jobs does. */
  backgroundJobs = false

  /** Clock in Unix seconds; tests may replace it. */
  now: () => number = () => Math.floor(Date.now() / 1000)

  /** The seeded site admin's clear auth key. */
  readonly adminKey: string

  private readonly counters = new Map<string, number>()

  constructor() {
    this.addOrg('ORGNAME', {description: 'Automatically generated admin organisation', type: 'ADMIN'})
    this.addRole('admin', adminPermissions)
    this.addRole('Org Admin', {...adminPermissions, perm_site_admin: false, perm_sync: false, perm_admin: true})
    this.addRole('User', userPermissions)
    this.addRole('Publisher', {...userPermissions, perm_publish: true, perm_publish_zmq: true, perm_publish_kafka: true})
    this.addRole('Sync user', {...userPermissions, perm_publish: true, perm_sync: true, perm_sharing_group: true})
    this.addRole('Read Only', readOnlyPermissions)
    const admin = this.addUser({email: 'admin@admin.test', orgId: '1', roleId: '1'})
    this.adminKey = this.addAuthKey(admin.id, {comment: 'seeded admin key'}).authkey
  }

  nextId(kind: string): string {
    const next = (this.counters.get(kind) ?? 0) + 1
    this.counters.set(kind, next)
    return String(next)
  }

  addOrg(name: string, options: {description?: string; type?: string; local?: boolean} = {}): Org {
    const org: Org = {
      id: this.nextId('org'),
      name,
      uuid: randomUUID(),
      local: options.local ?? true,
      description: options.description ?? '',
      type: options.type ?? '',
    }
    this.orgs.set(org.id, org)
    return org
  }

  addRole(name: string, permissions: Partial<Record<Permission, boolean>>): Role {
    const role: Role = {id: this.nextId('role'), name, permissions: {...permissions}}
    this.roles.set(role.id, role)
    return role
  }

  addUser(input: {email: string; orgId: string; roleId: string; disabled?: boolean}): User {
    const user: User = {
      id: this.nextId('user'),
      email: input.email,
      org_id: input.orgId,
      role_id: input.roleId,
      disabled: input.disabled ?? false,
      change_pw: true,
      date_modified: String(this.now()),
    }
    this.users.set(user.id, user)
    return user
  }

  addAuthKey(
    userId: string,
    options: {key?: string; comment?: string; expiration?: number; readOnly?: boolean; allowedIps?: string[]; disabled?: boolean} = {},
  ): AuthKey {
    const authKey: AuthKey = {
      id: this.nextId('auth_key'),
      uuid: randomUUID(),
      user_id: userId,
      authkey: options.key ?? generateAuthKey(),
      comment: options.comment ?? '',
      expiration: String(options.expiration ?? 0),
      read_only: options.readOnly ?? false,
      allowed_ips: options.allowedIps ?? null,
      created: String(this.now()),
      disabled: options.disabled ?? false,
    }
    this.authKeys.set(authKey.id, authKey)
    return authKey
  }

  /**
   * Find the identity for an Authorization header value. MISP accepts a comma-separated list and
   * uses the first valid key; keys must be 40 letters and digits. Returns null for unknown,
   * disabled or expired keys and for disabled users.
   */
  authenticate(header: string | undefined, remoteAddress?: string): Identity | null {
    if (header === undefined) return null
    for (const candidate of header.split(',').map((part) => part.trim())) {
      if (!/^[a-zA-Z0-9]{40}$/.test(candidate)) continue
      const authKey = [...this.authKeys.values()].find((key) => key.authkey === candidate)
      if (authKey === undefined || authKey.disabled) continue
      if (authKey.expiration !== '0' && Number(authKey.expiration) <= this.now()) continue
      if (authKey.allowed_ips !== null && remoteAddress !== undefined && !authKey.allowed_ips.some((range) => ipInRange(remoteAddress, range))) {
        continue
      }
      const user = this.users.get(authKey.user_id)
      const role = user && this.roles.get(user.role_id)
      const org = user && this.orgs.get(user.org_id)
      if (!user || !role || !org || user.disabled) continue
      return {user, role, org, authKey}
    }
    return null
  }

  addTag(name: string, options: {colour?: string; exportable?: boolean; numericalValue?: string} = {}): Tag {
    const existing = [...this.tags.values()].find((tag) => tag.name === name)
    if (existing) return existing
    const tag: Tag = {
      id: this.nextId('tag'),
      name,
      colour: options.colour ?? '#0088cc',
      exportable: options.exportable ?? true,
      numerical_value: options.numericalValue ?? null,
      is_galaxy: name.startsWith('misp-galaxy:'),
    }
    this.tags.set(tag.id, tag)
    return tag
  }

  tagEvent(eventId: string, tagName: string): void {
    const event = this.requireEvent(eventId)
    const tag = this.addTag(tagName)
    if (!event.tagIds.includes(tag.id)) event.tagIds.push(tag.id)
  }

  tagAttribute(attributeId: string, tagName: string): void {
    const attribute = this.attributes.get(attributeId)
    if (!attribute) throw new Error(`attribute ${attributeId} not found in the MISP double`)
    const tag = this.addTag(tagName)
    if (!attribute.tagIds.includes(tag.id)) attribute.tagIds.push(tag.id)
  }

  /** Create an event with its attributes; nothing is saved when one attribute is invalid. */
  addEvent(input: EventInput, orgId = '1'): SaveResult<MispEvent> {
    const info = typeof input.info === 'string' ? input.info.trim() : ''
    if (info === '') return {ok: false, errors: {info: ['Info cannot be empty.']}}

    const attributeInputs = Array.isArray(input.Attribute) ? (input.Attribute as AttributeInput[]) : []
    for (const attributeInput of attributeInputs) {
      const checked = this.checkAttribute(attributeInput)
      if ('errors' in checked) return {ok: false, errors: checked.errors}
    }
    if (asBoolean(input.published, false) && attributeInputs.length === 0) {
      return {ok: false, errors: {published: ['Cannot publish an empty event.']}}
    }

    const now = String(this.now())
    const event: MispEvent = {
      id: this.nextId('event'),
      uuid: randomUUID(),
      info,
      orgc_id: orgId,
      org_id: orgId,
      date: typeof input.date === 'string' ? input.date : new Date(this.now() * 1000).toISOString().slice(0, 10),
      threat_level_id: asIdString(input.threat_level_id, '4'),
      analysis: asIdString(input.analysis, '0'),
      distribution: asIdString(input.distribution, '1'),
      published: asBoolean(input.published, false),
      timestamp: now,
      publish_timestamp: asBoolean(input.published, false) ? now : '0',
      sharing_group_id: '0',
      tagIds: [],
    }
    this.events.set(event.id, event)

    for (const attributeInput of attributeInputs) this.saveAttribute(event, attributeInput)
    for (const tagName of tagNamesOf(input.Tag)) this.tagEvent(event.id, tagName)
    return {ok: true, value: event}
  }

  /** Add one attribute to an event, as POST /attributes/add does; this unpublishes the event. */
  addAttribute(eventId: string, input: AttributeInput): SaveResult<MispAttribute> | null {
    const event = this.events.get(eventId)
    if (!event) return null
    const checked = this.checkAttribute(input)
    if ('errors' in checked) return {ok: false, errors: checked.errors}
    const duplicate = [...this.attributes.values()].some(
      (attribute) => attribute.event_id === eventId && !attribute.deleted && attribute.type === checked.type && attribute.value === checked.value,
    )
    if (duplicate) return {ok: false, errors: {value: ['A similar attribute already exists for this event.']}}

    const attribute = this.saveAttribute(event, input)
    event.published = false
    event.timestamp = String(this.now())
    return {ok: true, value: attribute}
  }

  publishEvent(eventId: string): MispEvent | null {
    const event = this.events.get(eventId)
    if (!event) return null
    event.published = true
    event.publish_timestamp = String(this.now())
    return event
  }

  deleteEvent(eventId: string): boolean {
    if (!this.events.delete(eventId)) return false
    for (const [id, attribute] of this.attributes) {
      if (attribute.event_id === eventId) this.attributes.delete(id)
    }
    return true
  }

  requireEvent(eventId: string): MispEvent {
    const event = this.events.get(eventId)
    if (!event) throw new Error(`event ${eventId} not found in the MISP double`)
    return event
  }

  eventAttributes(eventId: string): MispAttribute[] {
    return [...this.attributes.values()].filter((attribute) => attribute.event_id === eventId)
  }

  addWarninglist(input: {name: string; type?: Warninglist['type']; entries: string[]; enabled?: boolean}): Warninglist {
    const list: Warninglist = {
      id: this.nextId('warninglist'),
      name: input.name,
      type: input.type ?? 'string',
      enabled: input.enabled ?? true,
      entries: [...input.entries],
    }
    this.warninglists.set(list.id, list)
    return list
  }

  /** Return the enabled warninglists that contain the value. */
  warninglistHits(value: string): Warninglist[] {
    const lowered = value.toLowerCase()
    return [...this.warninglists.values()].filter((list) => list.enabled && list.entries.some((entry) => warninglistEntryMatches(list, entry, lowered)))
  }

  private checkAttribute(input: AttributeInput): {type: string; value: string} | {errors: ValidationErrors} {
    const type = typeof input.type === 'string' ? input.type : ''
    if (!(type in describeTypes.result.sane_defaults)) {
      return {errors: {type: ['Options depend on the selected category.']}}
    }
    if (input.category !== undefined && (typeof input.category !== 'string' || !describeTypes.result.categories.includes(input.category))) {
      return {errors: {category: ['Options depend on the selected type.']}}
    }
    const rawValue = typeof input.value === 'number' ? String(input.value) : input.value
    if (typeof rawValue !== 'string') return {errors: {value: ['Value cannot be empty.']}}
    const normalised = normaliseValue(type, rawValue)
    if ('error' in normalised) return {errors: {value: [normalised.error]}}
    return {type, value: normalised.value}
  }

  private saveAttribute(event: MispEvent, input: AttributeInput): MispAttribute {
    const checked = this.checkAttribute(input)
    if ('errors' in checked) throw new Error(`invalid attribute reached saveAttribute: ${JSON.stringify(checked.errors)}`)
    const defaults = describeTypes.result.sane_defaults[checked.type]
    const attribute: MispAttribute = {
      id: this.nextId('attribute'),
      event_id: event.id,
      object_id: '0',
      object_relation: null,
      category: typeof input.category === 'string' ? input.category : (defaults?.default_category ?? 'Other'),
      type: checked.type,
      value: checked.value,
      to_ids: asBoolean(input.to_ids, (defaults?.to_ids ?? 0) === 1),
      uuid: randomUUID(),
      timestamp: String(this.now()),
      distribution: asIdString(input.distribution, '5'),
      sharing_group_id: '0',
      comment: typeof input.comment === 'string' ? input.comment : '',
      deleted: asBoolean(input.deleted, false),
      disable_correlation: false,
      first_seen: null,
      last_seen: null,
      tagIds: [],
    }
    this.attributes.set(attribute.id, attribute)
    for (const tagName of tagNamesOf(input.Tag)) this.tagAttribute(attribute.id, tagName)
    return attribute
  }
}

/** Return the tag names of a Tag list, whose entries are names or {"name": ...} objects. */
function tagNamesOf(value: unknown): string[] {
  if (!Array.isArray(value)) return []
  const names: string[] = []
  for (const tag of value) {
    const name: unknown = typeof tag === 'object' && tag !== null ? (tag as {name?: unknown}).name : tag
    if (typeof name === 'string' && name !== '') names.push(name)
  }
  return names
}

/** Tell whether an address lies in a range written as an address or CIDR network. */
export function ipInRange(address: string, range: string): boolean {
  const [network, prefix] = range.split('/')
  const plain = address.replace(/^::ffff:/, '')
  const family = net.isIPv6(plain) ? 'ipv6' : 'ipv4'
  if (network === undefined || net.isIP(network) === 0 || net.isIP(plain) === 0) return false
  const blockList = new net.BlockList()
  const networkFamily = net.isIPv6(network) ? 'ipv6' : 'ipv4'
  if (prefix === undefined) blockList.addAddress(network, networkFamily)
  else blockList.addSubnet(network, Number(prefix), networkFamily)
  return blockList.check(plain, family)
}

function warninglistEntryMatches(list: Warninglist, entry: string, value: string): boolean {
  const loweredEntry = entry.toLowerCase()
  if (list.type === 'cidr') {
    return value.split('|').some((half) => net.isIP(half) !== 0 && ipInRange(half, loweredEntry))
  }
  if (list.type === 'hostname') {
    return value.split('|').some((half) => half === loweredEntry || half.endsWith(`.${loweredEntry}`))
  }
  if (list.type === 'substring') return value.includes(loweredEntry)
  if (list.type === 'regex') return new RegExp(entry, 'i').test(value)
  return value.split('|').some((half) => half === loweredEntry) || value === loweredEntry
}
