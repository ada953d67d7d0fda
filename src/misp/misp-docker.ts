import path from 'node:path/posix'

import {MispwazuhError, ExitCode} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {applyFile, planFile, unifiedDiff, type FilePlan} from '../steps/file-change.js'
import {isSecretEnvName, parseEnv, setEnvValues} from './env-file.js'
import {adminEmailOf} from './options.js'
import {generateSecret, type MispRunState} from './run-state.js'

/**
 * Returns the step that keeps the misp-docker checkout at the pinned commit. An existing checkout is moved to the commit
 * (fetching first when the commit is not there); files git ignores (.env, ssl/, configs/) stay.
 */
export function mispDockerSourceStep(state: MispRunState): Step {
  const {options} = state

  return {
    id: 'misp.misp-docker',
    title: `misp-docker at ${options.commit.slice(0, 12)}`,

    async check(context: StepContext): Promise<StepCheck> {
      const {target} = context
      const dir = options.installDir
      const clone = ['git', 'clone', '--no-checkout', options.repositoryUrl, dir]
      const checkout = ['git', '-C', dir, 'checkout', '--detach', '--quiet', options.commit]

      if (!(await target.exists(dir))) {
        return {status: 'change', reason: `${dir} does not exist`, changes: [{kind: 'command', summary: `clone ${options.repositoryUrl} into ${dir} and check out ${options.commit}`, argv: [clone, checkout]}]}
      }

      if (!(await target.exists(path.join(dir, '.git')))) {
        throw new MispwazuhError(`${dir} exists on ${target.name} but is not a git checkout of misp-docker.`, {
          code: 'misp_docker_dir_not_git',
          exitCode: ExitCode.validationFailed,
          fix: `Move ${dir} away, or choose another directory with --misp-docker-dir.`,
        })
      }

      const head = await revision(context, dir, 'HEAD')
      const wanted = await revision(context, dir, options.commit)
      if (head !== undefined && head === wanted) return {status: 'ok', reason: `${dir} is at ${head.slice(0, 12)}`, changes: []}

      const argv = wanted === undefined ? [['git', '-C', dir, 'fetch', '--quiet', 'origin'], checkout] : [checkout]
      return {status: 'change', reason: `${dir} is at ${head?.slice(0, 12) ?? 'no commit'}, not ${options.commit.slice(0, 12)}`, changes: [{kind: 'command', summary: `check out ${options.commit} in ${dir}`, argv}]}
    },

    async apply(context: StepContext, check: StepCheck): Promise<void> {
      for (const change of check.changes) {
        for (const argv of change.argv ?? []) await context.target.exec(argv, {timeoutMs: 600_000})
      }

      const head = await revision(context, options.installDir, 'HEAD')
      context.log.info(`misp-docker in ${options.installDir} is at ${head ?? 'unknown'}`)
    },
  }
}

async function revision(context: StepContext, dir: string, name: string): Promise<string | undefined> {
  const result = await context.target.exec(['git', '-C', dir, 'rev-parse', '--verify', '--quiet', `${name}^{commit}`], {allowExitCodes: 'any'})
  return result.exitCode === 0 ? result.stdout.trim() : undefined
}

/** misp-docker variables mispwazuh generates once and then keeps: changing them later breaks the database or the login. */
const GENERATED = {
  ADMIN_PASSWORD: 32,
  ADMIN_KEY: 40,
  MYSQL_PASSWORD: 32,
  MYSQL_ROOT_PASSWORD: 32,
  REDIS_PASSWORD: 32,
} as const

/** Values of the template and misp-docker's defaults that count as "not set" for a generated variable. */
const WEAK_DEFAULTS = new Set(['', 'admin', 'example', 'password', 'redispassword', 'passphrase'])

/**
 * misp-docker's `.env`: template.env on the first run, then the file as it is, with only
 * mispwazuh's variables set. Generated secrets already in the file are kept. When BASE_URL
 * changes, the old URL is also replaced in configs/config.php, where misp-docker keeps the
 * MISP configuration it generated on the first start (MISP.baseurl, MISP.external_baseurl,
 * Security.rest_client_baseurl); otherwise the new BASE_URL would not take effect.
 */
export function mispDockerEnvStep(state: MispRunState): Step {
  const {options, paths} = state
  let envPlan: FilePlan | undefined
  let configPlan: FilePlan | undefined

  async function check(context: StepContext): Promise<StepCheck> {
    const {target} = context
    const templateFile = path.join(options.installDir, 'template.env')
    const currentText = (await target.exists(paths.envFile)) ? await target.readText(paths.envFile) : undefined
    const baseText = currentText ?? ((await target.exists(templateFile)) ? await target.readText(templateFile) : undefined)
    const current = parseEnv(baseText ?? '')
    // Template defaults such as "passphrase" are public words, so registering them would only mask ordinary text.
    for (const [name, value] of current) if (isSecretEnvName(name) && !WEAK_DEFAULTS.has(value)) context.redactor.register(value, name.toLowerCase())

    const wanted = desiredValues(state, current)
    for (const name of Object.keys(GENERATED)) context.redactor.register(wanted.get(name), name.toLowerCase())
    state.envValues = new Map([...current, ...wanted])

    if (baseText === undefined) {
      envPlan = undefined
      return {
        status: 'change',
        reason: `${paths.envFile} does not exist yet`,
        changes: [{
          kind: 'file',
          summary: `create ${paths.envFile} from template.env with ${wanted.size} values set by mispwazuh (root:root 0600)`,
          path: paths.envFile,
          // The template arrives with the checkout, so the plan can show only the lines mispwazuh sets.
          diff: unifiedDiff(paths.envFile, undefined, setEnvValues('', wanted), false, context.redactor),
        }],
      }
    }

    const text = setEnvValues(baseText, wanted)
    envPlan = await planFile(target, {path: paths.envFile, content: text, mode: 0o600, owner: 'root', group: 'root'}, context.redactor)
    configPlan = await planBaseUrlChange(context, state, current.get('BASE_URL'))

    const changes = [envPlan.change, configPlan?.change].filter((change) => change !== undefined)
    if (changes.length === 0) return {status: 'ok', reason: `${paths.envFile} holds every value mispwazuh sets`, changes: []}
    return {status: 'change', reason: currentText === undefined ? 'first configuration of misp-docker' : `${paths.envFile} differs from the wanted values`, changes}
  }

  return {
    id: 'misp.env',
    title: `misp-docker settings (${paths.envFile})`,
    check,

    async apply(context: StepContext): Promise<void> {
      if (!envPlan) {
        // The checkout did not exist when the plan was made; plan again now that template.env is there.
        await check(context)
        if (!envPlan) throw new MispwazuhError(`${path.join(options.installDir, 'template.env')} is missing on ${context.target.name}.`, {code: 'misp_docker_template_missing', exitCode: ExitCode.mispFailed, fix: 'Check the misp-docker checkout and the --misp-docker-commit value.'})
      }

      if (envPlan.change) {
        await applyFile(context.target, envPlan)
        state.restartNeeded = true
      }

      if (configPlan?.change) {
        await applyFile(context.target, configPlan)
        state.restartNeeded = true
      }
    },
  }
}

function desiredValues(state: MispRunState, current: Map<string, string>): Map<string, string> {
  const {options} = state
  const wanted = new Map<string, string>([
    ['BASE_URL', state.url],
    ['CORE_HTTP_PORT', String(options.httpPort)],
    ['CORE_HTTPS_PORT', String(options.httpsPort)],
    // misp-docker after mid-2026 moved nginx into its own container and renamed the port variables.
    ['NGINX_HTTP_PORT', String(options.httpPort)],
    ['NGINX_HTTPS_PORT', String(options.httpsPort)],
    ['ADMIN_EMAIL', current.get('ADMIN_EMAIL') || adminEmailOf(options)],
    ['ADMIN_ORG', current.get('ADMIN_ORG') || options.adminOrg],
    ['DISABLE_PRINTING_PLAINTEXT_CREDENTIALS', 'true'],
    // Without this, misp-core downloads a CA bundle from curl.se at every start and stalls for minutes on hosts without egress.
    ['DISABLE_CA_REFRESH', 'true'],
  ])
  if (options.adminEmail) wanted.set('ADMIN_EMAIL', options.adminEmail)

  for (const [name, length] of Object.entries(GENERATED)) {
    const existing = current.get(name)
    const usable = existing !== undefined && !WEAK_DEFAULTS.has(existing) && (name !== 'ADMIN_KEY' || /^[A-Za-z0-9]{40}$/.test(existing))
    wanted.set(name, usable ? existing : generateSecret(length))
  }

  return wanted
}

async function planBaseUrlChange(context: StepContext, state: MispRunState, oldUrl: string | undefined): Promise<FilePlan | undefined> {
  const configFile = path.join(state.options.installDir, 'configs', 'config.php')
  if (!oldUrl || oldUrl === state.url || !(await context.target.exists(configFile))) return undefined

  const stat = await context.target.stat(configFile)
  const text = await context.target.readText(configFile)
  const updated = text.split(`'${oldUrl}'`).join(`'${state.url}'`)
  if (updated === text) return undefined

  // config.php contains the encryption key and salt, so its diff is never shown.
  return planFile(context.target, {path: configFile, content: updated, mode: (stat?.mode ?? 0o640) & 0o7777, owner: stat?.owner ?? 'root', group: stat?.group ?? 'root', secret: true})
}
