/**
 * Site-admin endpoints for roles, users and organisations: roles/index, admin/roles/add,
 * admin/users/index, admin/users/add, organisations/index. Shapes follow MISP 2.5.1's REST
 * responses: `{"Role": {...}}`, `{"User": {...}}` without the password, string ids.
 */
import {randomUUID} from 'node:crypto'

import {errorResponse, jsonResponse, prettyJson, saveFailureResponse, unwrapModel, type Route} from '../route.js'
import type {MispStore, Permission, Role, User} from '../store.js'

/** MISP's role levels: 0 read only, 1 manage own events, 2 manage organisation events, 3 publish. */
const permissionLevels: Record<string, {permissions: Permission[]; description: string}> = {
  '0': {permissions: [], description: 'read_only'},
  '1': {permissions: ['perm_add', 'perm_modify'], description: 'manage_own'},
  '2': {permissions: ['perm_add', 'perm_modify', 'perm_modify_org'], description: 'manage_org'},
  '3': {permissions: ['perm_add', 'perm_modify', 'perm_modify_org', 'perm_publish'], description: 'publish'},
}

const flagPermissions: Permission[] = [
  'perm_delegate', 'perm_sync', 'perm_admin', 'perm_audit', 'perm_auth', 'perm_site_admin', 'perm_regexp_access',
  'perm_tagger', 'perm_template', 'perm_sharing_group', 'perm_tag_editor', 'perm_sighting', 'perm_object_template',
  'perm_publish_zmq', 'perm_publish_kafka', 'perm_decaying', 'perm_galaxy_editor', 'perm_warninglist',
  'perm_view_feed_correlations', 'perm_analyst_data', 'perm_skip_otp',
]

export function roleShape(role: Role): Record<string, unknown> {
  let permission = '0'
  if (role.permissions.perm_publish) permission = '3'
  else if (role.permissions.perm_modify_org) permission = '2'
  else if (role.permissions.perm_add) permission = '1'
  const shape: Record<string, unknown> = {id: role.id, name: role.name, created: '2026-12-04 19:12:18', modified: '2026-12-04 19:12:18'}
  for (const name of ['perm_add', 'perm_modify', 'perm_modify_org', 'perm_publish', ...flagPermissions] as Permission[]) shape[name] = role.permissions[name] === true
  shape.default_role = false
  shape.memory_limit = null
  shape.max_execution_time = null
  shape.restricted_to_site_admin = false
  shape.enforce_rate_limit = false
  shape.rate_limit_count = '0'
  shape.permission = permission
  shape.permission_description = permissionLevels[permission]!.description
  return shape
}

export function userShape(user: User): Record<string, unknown> {
  return {
    id: user.id,
    org_id: user.org_id,
    server_id: '0',
    email: user.email,
    autoalert: false,
    invited_by: '1',
    gpgkey: null,
    certif_public: '',
    nids_sid: '4000000',
    termsaccepted: false,
    newsread: '0',
    role_id: user.role_id,
    change_pw: user.change_pw,
    contactalert: false,
    disabled: user.disabled,
    expiration: null,
    current_login: '0',
    last_login: '0',
    force_logout: false,
    date_created: user.date_modified,
    date_modified: user.date_modified,
    sub: null,
    external_auth_required: false,
    external_auth_key: null,
    last_api_access: '0',
    notification_daily: false,
    notification_weekly: false,
    notification_monthly: false,
    totp: null,
    hotp_counter: null,
    last_pw_change: user.date_modified,
  }
}

function addRole(body: unknown, store: MispStore) {
  const input = unwrapModel(body, 'Role')
  const name = typeof input.name === 'string' ? input.name.trim() : ''
  const errors: Record<string, string[]> = {}
  if (name === '') errors.name = ['Please enter a name for the role.']
  else if ([...store.roles.values()].some((role) => role.name === name)) errors.name = ['A role with this name already exists.']
  const level = String(input.permission ?? '3')
  if (!(level in permissionLevels)) errors.permission = ['Invalid permission level.']
  if (Object.keys(errors).length > 0) return saveFailureResponse('Could not add Role', '/admin/roles/add', errors)

  const permissions: Partial<Record<Permission, boolean>> = {}
  for (const permission of permissionLevels[level]!.permissions) permissions[permission] = true
  for (const permission of flagPermissions) {
    const value = input[permission]
    if (value === true || value === 1 || value === '1') permissions[permission] = true
  }

  const role = store.addRole(name, permissions)
  return jsonResponse(200, prettyJson({Role: roleShape(role)}))
}

function addUser(body: unknown, store: MispStore, identityOrg: string) {
  const input = unwrapModel(body, 'User')
  const email = typeof input.email === 'string' ? input.email.trim() : ''
  const orgId = String(input.org_id ?? identityOrg)
  const roleId = String(input.role_id ?? '')
  const errors: Record<string, string[]> = {}
  if (!/^[^\s@]+@[^\s@]+\.[A-Za-z]{2,}$/.test(email)) errors.email = ['An email address is required']
  else if ([...store.users.values()].some((user) => user.email.toLowerCase() === email.toLowerCase())) errors.email = ['An account with this email address already exists.']
  // MISP 2.5 raises MethodNotAllowedException for an unknown role before validating anything else.
  if (roleId === '' || !store.roles.has(roleId)) return errorResponse(405, 'Invalid role', '/admin/users/add')
  if (!store.orgs.has(orgId)) return saveFailureResponse('Could not add User', '/admin/users/add', {0: ['Invalid organisation']} as Record<string, string[]>)
  if (Object.keys(errors).length > 0) return saveFailureResponse('Could not add User', '/admin/users/add', errors)

  const user = store.addUser({email, orgId, roleId, disabled: input.disabled === true})
  // REST defaults change_pw to 1 when the request does not set it.
  user.change_pw = input.change_pw === undefined ? true : input.change_pw === true || input.change_pw === 1 || input.change_pw === '1'

  // With advanced auth keys, admin_add creates a first auth key for the new user and returns it in clear as User.authkey.
  const key = store.addAuthKey(user.id, {comment: ''})
  return jsonResponse(200, prettyJson({User: {...userShape(user), password: '******', authkey: key.authkey}}))
}

export const adminUserRoutes: readonly Route[] = [
  ...['/roles', '/roles/index', '/admin/roles/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    handle: (_request, store) => jsonResponse(200, prettyJson([...store.roles.values()].map((role) => ({Role: roleShape(role)})))),
  })),
  {method: 'POST', pattern: '/admin/roles/add', permission: 'perm_site_admin', handle: (request, store) => addRole(request.body, store)},
  ...['/admin/users', '/admin/users/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    permission: 'perm_admin',
    handle(request, store) {
      const siteAdmin = request.identity?.role.permissions.perm_site_admin === true
      const users = [...store.users.values()].filter((user) => siteAdmin || user.org_id === request.identity?.org.id)
      return jsonResponse(200, prettyJson(users.map((user) => {
        const role = store.roles.get(user.role_id)
        const org = store.orgs.get(user.org_id)
        return {
          User: userShape(user),
          Role: role ? {id: role.id, name: role.name, perm_auth: role.permissions.perm_auth === true, perm_site_admin: role.permissions.perm_site_admin === true} : {},
          Organisation: org ? {id: org.id, name: org.name} : {},
        }
      })))
    },
  })),
  {method: 'POST', pattern: '/admin/users/add', permission: 'perm_admin', handle: (request, store) => addUser(request.body, store, request.identity?.org.id ?? '1')},
  ...['/organisations', '/organisations/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    handle: (_request, store) => jsonResponse(200, prettyJson([...store.orgs.values()].map((org) => ({
      Organisation: {id: org.id, name: org.name, date_created: '2026-12-04 19:12:39', date_modified: '2026-12-04 19:12:39', description: org.description, type: org.type, nationality: '', sector: '', created_by: '0', uuid: org.uuid || randomUUID(), contacts: null, local: org.local, restricted_to_domain: null, landingpage: null, user_count: [...store.users.values()].filter((user) => user.org_id === org.id).length},
    })))),
  })),
]
