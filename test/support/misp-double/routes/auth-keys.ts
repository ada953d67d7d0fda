/**
 * Auth key endpoints: auth_keys/add/{user_id|me} (the clear key only in `authkey_raw`),
 * auth_keys/index and auth_keys/delete/{id}. A site admin manages every user's keys; other users
 * only their own, as MISP's AuthKeysController allows.
 */
import {errorResponse, jsonResponse, permissionDeniedMessage, prettyJson, saveFailureResponse, saveSuccessResponse, type Route} from '../route.js'
import type {AuthKey, Identity, MispStore} from '../store.js'

function keyShape(key: AuthKey): Record<string, unknown> {
  return {
    id: key.id,
    uuid: key.uuid,
    authkey_start: key.authkey.slice(0, 4),
    authkey_end: key.authkey.slice(-4),
    created: key.created,
    expiration: key.expiration,
    read_only: key.read_only,
    user_id: key.user_id,
    comment: key.comment,
    allowed_ips: key.allowed_ips,
    unique_ips: [],
  }
}

function mayManage(identity: Identity | null, userId: string): boolean {
  return identity !== null && (identity.role.permissions.perm_site_admin === true || identity.user.id === userId)
}

function allowedIps(value: unknown): string[] | null {
  if (Array.isArray(value)) return value.map(String)
  if (typeof value === 'string' && value.trim() !== '') return value.split(/[\s,]+/).filter(Boolean)
  return null
}

function visibleKeys(identity: Identity | null, store: MispStore): AuthKey[] {
  return [...store.authKeys.values()].filter((key) => !key.disabled && mayManage(identity, key.user_id))
}

export const authKeyRoutes: readonly Route[] = [
  {
    method: 'POST',
    pattern: '/auth_keys/add/:user',
    permission: 'perm_auth',
    handle(request, store) {
      const userId = request.params.user === 'me' ? request.identity!.user.id : (request.params.user ?? '')
      if (!store.users.has(userId)) return saveFailureResponse('Could not add auth_key', '/auth_keys/add', {user_id: ["User doesn't exists"]})
      if (!mayManage(request.identity, userId)) return errorResponse(403, permissionDeniedMessage, request.path)

      const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>
      let expiration = 0
      if (typeof body.expiration === 'number') expiration = body.expiration
      else if (typeof body.expiration === 'string' && body.expiration !== '') expiration = Math.floor(Date.parse(body.expiration) / 1000)
      const key = store.addAuthKey(userId, {
        comment: typeof body.comment === 'string' ? body.comment : '',
        readOnly: body.read_only === true || body.read_only === 1,
        allowedIps: allowedIps(body.allowed_ips) ?? undefined,
        expiration: Number.isFinite(expiration) ? expiration : 0,
      })
      return jsonResponse(200, prettyJson({AuthKey: {...keyShape(key), authkey_raw: key.authkey}}))
    },
  },
  ...['/auth_keys', '/auth_keys/index'].map((pattern): Route => ({
    method: 'GET',
    pattern,
    permission: 'perm_auth',
    handle(request, store) {
      const items = visibleKeys(request.identity, store).map((key) => ({AuthKey: keyShape(key), User: {id: key.user_id, email: store.users.get(key.user_id)?.email ?? ''}}))
      return jsonResponse(200, prettyJson(items))
    },
  })),
  {
    method: ['POST', 'DELETE'],
    pattern: '/auth_keys/delete/:id',
    permission: 'perm_auth',
    handle(request, store) {
      const id = request.params.id ?? ''
      const key = store.authKeys.get(id)
      if (!key || key.disabled || !mayManage(request.identity, key.user_id)) return errorResponse(404, 'Invalid auth key.', `/auth_keys/delete/${id}`)
      store.authKeys.delete(id)
      return saveSuccessResponse('AuthKey deleted.', `/auth_keys/delete/${id}`, id)
    },
  },
]
