import {MispwazuhError, ExitCode} from '../errors.js'
import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import {AUTH_KEY_PATTERN, MispAuthError, type MispClient, type MispRole, type MispUser} from './client.js'
import {wazuhUserEmailOf} from './options.js'
import {readSecretFile, type MispRunState} from './run-state.js'

/** Comment of the auth keys mispwazuh creates; it also marks the keys it may delete when it replaces one. */
export const WAZUH_KEY_COMMENT = 'mispwazuh: Wazuh integration (attribute searches)'

/**
 * Returns the step that keeps a dedicated MISP user for Wazuh in the admin's organisation, with a read-only role that may
 * use the API (perm_auth) and nothing else, and an auth key for it in a root-only file.
 * The integration must not use the admin key: misp-docker sets ADMIN_KEY again at every start
 * and expires the admin's other keys.
 */
export function mispWazuhUserStep(state: MispRunState): Step {
  const email = wazuhUserEmailOf(state.options)
  const roleName = state.options.wazuhRoleName
  const keyFile = state.paths.wazuhKeyFile

  return {
    id: 'misp.wazuh-user',
    title: `MISP user ${email} and auth key for Wazuh`,

    async check(context: StepContext): Promise<StepCheck> {
      const client = await state.adminClient(context)
      const found = client ? await findExisting(client, email, roleName).catch(() => undefined) : undefined
      if (!client || found === undefined) {
        return {status: 'change', reason: 'MISP is not running yet', changes: allChanges(roleName, email, keyFile)}
      }

      const changes: Change[] = []
      if (!found.role) changes.push({kind: 'command', summary: `create role ${roleName}: read only, API access (POST /admin/roles/add)`})
      if (!found.user) changes.push({kind: 'command', summary: `create user ${email} in organisation ${found.orgName} (POST /admin/users/add)`})
      if (found.user?.disabled) throw disabledUser(email)

      const keyProblem = found.user ? await wazuhKeyProblem(context, state, keyFile, email) : 'no user yet'
      if (keyProblem !== undefined) changes.push({kind: 'command', summary: `create an auth key for ${email} and write it to ${keyFile} (root 0600)`})
      const mode = await keyFileModeProblem(context, keyFile)
      if (keyProblem === undefined && mode !== undefined) changes.push({kind: 'file', summary: `set root:root 0600 on ${keyFile} (${mode})`, path: keyFile})

      if (changes.length === 0) return {status: 'ok', reason: `${email} has a working auth key in ${keyFile}`, changes: []}
      return {status: 'change', reason: keyProblem ?? mode ?? 'user or role missing', changes}
    },

    async apply(context: StepContext): Promise<void> {
      const client = await state.requireAdminClient(context)
      const found = await findExisting(client, email, roleName)

      const role = found.role ?? (await client.addRole({name: roleName, permission: '0', perm_auth: true, perm_sighting: false, perm_tagger: false}))
      let user = found.user
      if (!user) {
        context.progress(`creating MISP user ${email}`)
        user = await client.addUser({email, org_id: found.orgId, role_id: role.id, change_pw: false, disabled: false, notify: false, autoalert: false, contactalert: false})
        await deleteFirstKey(context, client, user)
      } else if (user.role_id !== role.id) {
        context.log.warn(`MISP user ${email} has role ${user.role_id}, not ${roleName} (${role.id}); mispwazuh leaves it as it is.`)
      }

      if ((await wazuhKeyProblem(context, state, keyFile, email)) === undefined) {
        await context.target.chown(keyFile, 'root', 'root')
        await context.target.chmod(keyFile, 0o600)
        return
      }

      context.progress(`creating an auth key for ${email}`)
      const created = await client.addAuthKey(user.id, {comment: WAZUH_KEY_COMMENT})
      context.redactor.register(created.authkey_raw, 'misp-wazuh-key')
      if (!AUTH_KEY_PATTERN.test(created.authkey_raw)) {
        throw new MispwazuhError(`MISP returned an auth key for ${email} that is not 40 letters and digits.`, {code: 'misp_invalid_auth_key', exitCode: ExitCode.mispFailed})
      }

      await context.target.mkdir(state.options.configDir, {mode: 0o755, owner: 'root', group: 'root'})
      await context.target.writeFile(keyFile, `${created.authkey_raw}\n`, {mode: 0o600, owner: 'root', group: 'root'})

      // Keys made by earlier runs whose clear value is lost are removed, so unused keys do not pile up.
      for (const key of await client.listAuthKeys(user.id)) {
        if (key.id === created.id || key.comment !== WAZUH_KEY_COMMENT) continue
        await client.deleteAuthKey(key.id)
        context.log.info(`deleted the earlier mispwazuh auth key ${key.id} of ${email}`)
      }
    },
  }
}

/**
 * MISP with advanced auth keys (misp-docker's default) gives a user added through the API a first
 * auth key without a comment and returns it as `User.authkey`. That key is deleted, so the only
 * key of the Wazuh user is the commented one written to the key file.
 */
async function deleteFirstKey(context: StepContext, client: MispClient, user: MispUser): Promise<void> {
  const firstKey = typeof user.authkey === 'string' ? user.authkey : undefined
  delete user.authkey
  if (!firstKey || !AUTH_KEY_PATTERN.test(firstKey)) return

  context.redactor.register(firstKey, 'misp-auth-key')
  const match = (await client.listAuthKeys(user.id)).find((key) => key.authkey_start === firstKey.slice(0, 4) && key.authkey_end === firstKey.slice(-4))
  if (!match) return
  await client.deleteAuthKey(match.id)
  context.log.info(`deleted the auth key MISP created with user ${user.email} (id ${match.id})`)
}

interface Existing {
  orgId: string
  orgName: string
  role: MispRole | undefined
  user: MispUser | undefined
}

async function findExisting(client: MispClient, email: string, roleName: string): Promise<Existing> {
  const me = await client.getCurrentUser()
  const role = (await client.listRoles()).find((item) => item.name === roleName)
  const user = (await client.listUsers()).map((item) => item.User).find((item) => item.email.toLowerCase() === email.toLowerCase())
  return {orgId: me.Organisation.id, orgName: me.Organisation.name, role, user}
}

/** Returns why the key file cannot be used (missing, malformed, rejected, another user's), or undefined when it works. */
async function wazuhKeyProblem(context: StepContext, state: MispRunState, keyFile: string, email: string): Promise<string | undefined> {
  const key = await readSecretFile(context, keyFile)
  if (key === undefined) return `${keyFile} does not exist`
  if (!AUTH_KEY_PATTERN.test(key)) return `${keyFile} does not hold a 40-character auth key`

  const ca = await state.trustedPem(context)
  if (!ca) return 'no trusted certificate for MISP yet'
  try {
    const me = await state.clientWithKey(context, key, ca).getCurrentUser()
    if (me.User.email.toLowerCase() !== email.toLowerCase()) return `the key in ${keyFile} belongs to ${me.User.email}, not ${email}`
    return undefined
  } catch (error) {
    if (error instanceof MispAuthError) return `MISP does not accept the key in ${keyFile}`
    throw error
  }
}

async function keyFileModeProblem(context: StepContext, keyFile: string): Promise<string | undefined> {
  const stat = await context.target.stat(keyFile)
  if (!stat) return undefined
  if ((stat.mode & 0o7777) !== 0o600 || stat.owner !== 'root' || stat.group !== 'root') return `now ${stat.owner}:${stat.group} 0${(stat.mode & 0o7777).toString(8)}`
  return undefined
}

function allChanges(roleName: string, email: string, keyFile: string): Change[] {
  return [
    {kind: 'command', summary: `create role ${roleName}: read only, API access (POST /admin/roles/add)`},
    {kind: 'command', summary: `create user ${email} in the admin's organisation (POST /admin/users/add)`},
    {kind: 'command', summary: `create an auth key for ${email} and write it to ${keyFile} (root 0600)`},
  ]
}

function disabledUser(email: string): MispwazuhError {
  return new MispwazuhError(`The MISP user ${email} exists but is disabled.`, {
    code: 'misp_wazuh_user_disabled',
    exitCode: ExitCode.mispFailed,
    fix: `Enable ${email} in MISP (Administration > List Users), or choose another address, then run again.`,
  })
}
