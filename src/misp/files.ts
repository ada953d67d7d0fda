import path from 'node:path/posix'

import {MispwazuhError, ExitCode} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {applyFile, planFile, type DesiredFile, type FilePlan} from '../steps/file-change.js'
import {adminEmailOf, wazuhUserEmailOf} from './options.js'
import type {MispRunState} from './run-state.js'

/** Returns a step that keeps a set of files as planned, each with its own diff. */
function filesStep(id: string, title: string, desiredFiles: (context: StepContext) => Promise<DesiredFile[] | string>, after?: (context: StepContext, plans: FilePlan[]) => Promise<void>): Step {
  let plans: FilePlan[] = []

  return {
    id,
    title,

    async check(context: StepContext): Promise<StepCheck> {
      const desired = await desiredFiles(context)
      if (typeof desired === 'string') {
        plans = []
        return {status: 'change', reason: desired, changes: [{kind: 'file', summary: `write ${title}`}]}
      }

      plans = await Promise.all(desired.map((file) => planFile(context.target, file, context.redactor)))
      const changes = plans.flatMap((plan) => (plan.change ? [plan.change] : []))
      if (changes.length === 0) return {status: 'ok', reason: `${desired.map((file) => file.path).join(', ')} up to date`, changes: []}
      return {status: 'change', reason: `${changes.length} file(s) differ`, changes}
    },

    async apply(context: StepContext): Promise<void> {
      if (plans.length === 0) {
        const desired = await desiredFiles(context)
        if (typeof desired === 'string') throw new MispwazuhError(`Cannot write ${title}: ${desired}.`, {code: 'misp_files_unplanned', exitCode: ExitCode.mispFailed})
        plans = await Promise.all(desired.map((file) => planFile(context.target, file, context.redactor)))
      }

      for (const plan of plans) {
        if (!plan.change) continue
        await context.target.mkdir(path.dirname(plan.desired.path))
        await applyFile(context.target, plan)
      }

      await after?.(context, plans)
    },
  }
}

/**
 * Returns the step that writes the admin auth key to a root-only file, for the refresh job and later runs: the ADMIN_KEY of
 * misp-docker's .env, or the key of an existing MISP.
 */
export function mispAdminKeyFileStep(state: MispRunState): Step {
  return filesStep('misp.admin-key-file', `MISP admin key file ${state.paths.adminKeyFile}`, async (context) => {
    const key = await state.adminKey(context)
    if (!key) return 'the admin key is not known yet'
    context.redactor.register(key, 'misp-auth-key')
    return [{path: state.paths.adminKeyFile, content: `${key}\n`, mode: 0o600, owner: 'root', group: 'root', secret: true}]
  })
}

/**
 * Returns the daily refresh step: a root cron.d entry that runs a script asking MISP to fetch and cache every
 * enabled feed. The script reads the admin key from its root-only file and hands it to curl on
 * stdin (`-H @-`), so the key is in no crontab, command line or world-readable file, and curl
 * verifies MISP's certificate against the trusted PEM.
 */
export function mispRefreshJobStep(state: MispRunState): Step {
  const {options, paths} = state
  return filesStep('misp.refresh-job', 'daily MISP feed refresh job', async (context) => {
    const curl = await context.target.exec(['sh', '-c', 'command -v curl'], {allowExitCodes: 'any'})
    if (curl.exitCode !== 0) context.log.warn(`curl is not installed on ${context.target.name}; the daily MISP feed refresh job needs it (apt-get install curl).`)

    return [
      {path: options.refreshScript, content: refreshScript(state.url, paths.adminKeyFile, paths.caCertFile, state.tlsServerName), mode: 0o755, owner: 'root', group: 'root'},
      {path: options.cronFile, content: cronEntry(options.refreshSchedule, options.refreshScript, options.refreshLogFile), mode: 0o644, owner: 'root', group: 'root'},
    ]
  }, async (context) => {
    await context.target.mkdir(path.dirname(options.refreshLogFile), {mode: 0o750, owner: 'root', group: 'root'})
  })
}

/** Returns the step that writes the root-only credentials file: where everything is, plus the admin email and password. */
export function mispCredentialsStep(state: MispRunState): Step {
  const {options, paths} = state
  return filesStep('misp.credentials', `MISP credentials file ${paths.credentialsFile}`, async (context) => {
    const adminEmail = options.mode === 'install' ? state.envValues?.get('ADMIN_EMAIL') ?? adminEmailOf(options) : adminEmailOf(options)
    const password = options.mode === 'install' ? state.envValues?.get('ADMIN_PASSWORD') : undefined
    if (options.mode === 'install' && !password) return 'the admin password is not known yet'
    context.redactor.register(password, 'misp-admin-password')

    return [{path: paths.credentialsFile, content: credentialsText(state, adminEmail, password), mode: 0o600, owner: 'root', group: 'root', secret: true}]
  })
}

export function credentialsText(state: MispRunState, adminEmail: string, password: string | undefined): string {
  const {options, paths} = state
  const lines = [
    '# MISP access written by mispwazuh. Keep this file root-only (0600).',
    `MISP_URL=${state.url}`,
    `MISP_ADMIN_EMAIL=${adminEmail}`,
    `MISP_ADMIN_PASSWORD=${password ?? '(not managed by mispwazuh: existing MISP)'}`,
    `MISP_ADMIN_KEY_FILE=${paths.adminKeyFile}`,
    `MISP_WAZUH_USER=${wazuhUserEmailOf(options)}`,
    `MISP_WAZUH_KEY_FILE=${paths.wazuhKeyFile}`,
    `MISP_CA_FILE=${paths.caCertFile}`,
  ]
  if (state.pinnedFingerprint) lines.push(`MISP_PINNED_SHA256=${state.pinnedFingerprint}`)
  if (state.tlsServerName) lines.push(`MISP_TLS_SERVER_NAME=${state.tlsServerName}`)
  if (options.mode === 'install') lines.push(`MISP_DOCKER_DIR=${options.installDir}`, `MISP_DOCKER_ENV=${paths.envFile}`)
  return `${lines.join('\n')}\n`
}

/**
 * Returns the refresh script. With `tlsServerName` (a pinned certificate that does not name the
 * URL's host), curl verifies the certificate against that name and `--connect-to` sends the
 * connection to the real host and port, so verification stays on.
 */
export function refreshScript(url: string, keyFile: string, caFile: string, tlsServerName?: string): string {
  const target = new URL(url)
  const port = target.port || '443'
  const verifiedUrl = tlsServerName === undefined ? url : `https://${tlsServerName.includes(':') ? `[${tlsServerName}]` : tlsServerName}:${port}${target.pathname.replace(/\/$/, '')}`
  const connectTo = tlsServerName === undefined ? '' : `--connect-to '${tlsServerName.includes(':') ? `[${tlsServerName}]` : tlsServerName}:${port}:${target.hostname}:${port}' `
  return `#!/bin/sh
# Written by mispwazuh: asks MISP to fetch and cache every enabled feed.
# The auth key is read from a root-only file and reaches curl on stdin, never in argv.
set -u
url='${verifiedUrl}'
key_file='${keyFile}'
ca_file='${caFile}'
status=0
for action in feeds/fetchFromAllFeeds feeds/cacheFeeds/all; do
  printf '%s %s: ' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$action"
  if ! printf '%s: %s\\n' Authorization "$(cat "$key_file")" | curl --silent --show-error --fail --max-time 900 \\
      --cacert "$ca_file" ${connectTo}-H @- -H 'Accept: application/json' -H 'Content-Type: application/json' \\
      -X POST --data '{}' "$url/$action"; then
    status=1
  fi
  echo
done
exit "$status"
`
}

export function cronEntry(schedule: string, script: string, logFile: string): string {
  return `# Written by mispwazuh: daily MISP feed fetch and cache.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
${schedule} * * * root ${script} >> ${logFile} 2>&1
`
}
