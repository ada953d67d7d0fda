/**
 * Shapes of the MISP REST responses the client reads, as MISP 2.5 sends them. Numeric columns
 * arrive as strings ("id": "85") and stay strings here; tinyint(1) columns arrive as booleans.
 * Only the fields the product reads are typed; the rest pass through untouched.
 */

export interface MispVersion {
  version: string
  pymisp_recommended_version?: string
  perm_sync?: boolean
  perm_sighting?: boolean
  uuid?: string
  [key: string]: unknown
}

export interface MispUser {
  id: string
  email: string
  org_id: string
  role_id: string
  disabled: boolean
  change_pw?: boolean | string
  [key: string]: unknown
}

export interface MispRole {
  id: string
  name: string
  perm_auth: boolean
  perm_add?: boolean
  perm_site_admin?: boolean
  perm_admin?: boolean
  permission?: string
  [key: string]: unknown
}

export interface MispOrganisation {
  id: string
  name: string
  uuid?: string
  [key: string]: unknown
}

export interface MispCurrentUser {
  User: MispUser
  Role: MispRole
  Organisation: MispOrganisation
}

export interface MispUserListItem {
  User: MispUser
  Role?: Partial<MispRole>
  Organisation?: Partial<MispOrganisation>
}

export interface MispFeed {
  id: string
  name: string
  provider: string
  url: string
  source_format: string
  enabled: boolean
  caching_enabled: boolean
  default?: boolean
  input_source?: string
  cache_timestamp?: string | boolean | null
  [key: string]: unknown
}

export interface MispFeedListItem {
  Feed: MispFeed
  [key: string]: unknown
}

export interface MispWarninglist {
  id: string
  name: string
  type?: string
  enabled: boolean
  version?: string
  warninglist_entry_count?: string
  [key: string]: unknown
}

export interface MispAuthKey {
  id: string
  uuid: string
  authkey_start: string
  authkey_end: string
  created: string
  expiration: string
  read_only: boolean
  user_id: string
  comment: string
  allowed_ips: string[] | null
  [key: string]: unknown
}

/** The response of auth_keys/add: the only time MISP shows the clear key, in `authkey_raw`. */
export interface MispNewAuthKey extends MispAuthKey {
  authkey_raw: string
}

export interface MispAuthKeyListItem {
  AuthKey: MispAuthKey
  User?: {id: string; email: string}
}

/** `{saved, success, name, message, url}`: MISP's response for actions without a record to return. */
export interface MispActionResult {
  saved?: boolean
  success?: boolean | string
  name?: string
  message?: string
  url?: string
  id?: string
  [key: string]: unknown
}

/** feeds/fetchFromFeed and feeds/fetchFromAllFeeds return `{"result": "..."}`, with HTTP 200 even when fetching failed. */
export interface MispFetchResult {
  result: string
}

/** The outcome of feeds/cacheFeeds. In sync mode MISP responds to a failure of any feed in scope with a 302 and no body. */
export interface MispCacheResult {
  ok: boolean
  message: string
}

export interface MispAttribute {
  id: string
  event_id: string
  type: string
  category: string
  value: string
  to_ids: boolean
  uuid: string
  Event?: {id: string; info: string; [key: string]: unknown}
  [key: string]: unknown
}

export interface NewRole {
  name: string
  /** 0 read only, 1 manage own events, 2 manage org events, 3 publish. */
  permission: '0' | '1' | '2' | '3'
  perm_auth: boolean
  [key: string]: unknown
}

export interface NewUser {
  email: string
  org_id: string
  role_id: string
  /** MISP sends no welcome mail for users added through the API unless notify is set. */
  notify?: boolean
  disabled?: boolean
  change_pw?: boolean
  password?: string
  [key: string]: unknown
}

export interface NewAuthKey {
  comment?: string
  allowed_ips?: string[]
  expiration?: string | number
  read_only?: boolean
}
