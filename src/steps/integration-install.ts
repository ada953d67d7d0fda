import path from 'node:path/posix'

import {ExitCode, MispwazuhError} from '../errors.js'
import {MispFacts} from '../misp/run-state.js'
import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import type {Target} from '../target/target.js'
import {readTemplate} from '../templates.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts} from '../wazuh/manager.js'
import {applyFile, planFile, type DesiredFile, type FilePlan} from './file-change.js'
import {WazuhInstallFacts} from './wazuh-install.js'

/** The interpreter every Wazuh manager ships; the official integrations run with it. */
export const BUNDLED_PYTHON = '/var/ossec/framework/python/bin/python3'

export interface IntegrationPaths {
  script: string
  configDir: string
  config: string
  caFile: string
  cacheDir: string
}

export function integrationPaths(wazuhDir: string = DEFAULT_WAZUH_DIR): IntegrationPaths {
  return {
    script: path.join(wazuhDir, 'integrations', 'custom-misp'),
    configDir: path.join(wazuhDir, 'etc', 'mispwazuh'),
    config: path.join(wazuhDir, 'etc', 'mispwazuh', 'misp.json'),
    caFile: path.join(wazuhDir, 'etc', 'mispwazuh', 'misp-ca.crt'),
    cacheDir: path.join(wazuhDir, 'var', 'mispwazuh'),
  }
}

export interface IntegrationInstallOptions {
  wazuhDir?: string
  /** Turning TLS verification off is insecure; the integration then logs a warning on every run. */
  verifyTls: boolean
  /** The host MISP was installed on, when it is not this one: the key and CA files are read there. */
  mispTarget?: Target
}

/** Returns the integration script as installed: the bundled interpreter's shebang and LF line endings. */
export function integrationScript(wazuhDir: string = DEFAULT_WAZUH_DIR): string {
  const source = readTemplate('integrations', 'custom-misp.py').replaceAll('\r\n', '\n')
  const body = source.startsWith('#!') ? source.slice(source.indexOf('\n') + 1) : source
  return `#!${path.join(wazuhDir, 'framework', 'python', 'bin', 'python3')}\n${body}`
}

/**
 * Installs the custom-misp integration. The script is root:wazuh 0750, so integratord (which
 * runs as wazuh) can run it but not change it. Its JSON config contains the MISP URL, the Wazuh
 * user's auth key and the CA it trusts (root:wazuh 0640), and its cache directory is owned by
 * wazuh. Then checks that the bundled interpreter compiles the script as the wazuh user and
 * that the wazuh user cannot write it. integratord starts the script anew for every alert, so
 * none of this needs a manager restart.
 */
export function integrationInstallStep(options: IntegrationInstallOptions): Step {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  const paths = integrationPaths(wazuhDir)
  const plans = new WeakMap<StepCheck, FilePlan[]>()

  return {
    id: 'integration-install',
    title: 'custom-misp integration script and config',

    async check(context: StepContext): Promise<StepCheck> {
      const {target} = context
      const installed = (await readManagerFacts(target, wazuhDir)).installed
      if (!installed && (context.dryRun || context.facts.get(WazuhInstallFacts.installing))) {
        return {status: 'change', reason: `install ${paths.script} and ${paths.config} once the Wazuh manager is installed`, changes: [{kind: 'file', summary: `create ${paths.script} (root:wazuh 0750)`, path: paths.script}, {kind: 'file', summary: `create ${paths.config} (root:wazuh 0640, holds the Wazuh auth key)`, path: paths.config}]}
      }

      const desired = await desiredFiles(context, paths, options)
      const filePlans: FilePlan[] = []
      for (const file of desired) filePlans.push(await planFile(target, file, context.redactor))
      const changes: Change[] = filePlans.flatMap((plan) => (plan.change ? [plan.change] : []))

      const directories = await directoryChanges(target, paths)
      changes.unshift(...directories)
      if (changes.length === 0) {
        const problem = await scriptProblem(target, paths.script, wazuhDir)
        if (problem) return {status: 'change', reason: problem, changes: [{kind: 'command', summary: `reinstall ${paths.script}: ${problem}`}]}
        return {status: 'ok', reason: `${paths.script} and ${paths.config} are installed as configured`, changes: []}
      }

      const check: StepCheck = {status: 'change', reason: `${changes.length} change(s) to the integration files`, changes}
      plans.set(check, filePlans)
      return check
    },

    async apply(context: StepContext, check: StepCheck): Promise<void> {
      const {target} = context
      await target.mkdir(paths.configDir, {mode: 0o750, owner: 'root', group: 'wazuh'})
      await target.mkdir(paths.cacheDir, {mode: 0o750, owner: 'wazuh', group: 'wazuh'})

      const filePlans = plans.get(check) ?? (await Promise.all((await desiredFiles(context, paths, options)).map((file) => planFile(target, file, context.redactor))))
      const reinstall = check.changes.some((change) => change.kind === 'command' && change.summary.startsWith('reinstall'))
      for (const plan of filePlans) {
        if (plan.change) await applyFile(target, plan)
        else if (reinstall && plan.desired.path === paths.script) await target.writeFile(paths.script, plan.desired.content, {mode: 0o750, owner: 'root', group: 'wazuh', backup: true})
      }

      const problem = await scriptProblem(target, paths.script, wazuhDir)
      if (problem) {
        throw new MispwazuhError(`The installed integration does not work: ${problem}.`, {
          code: 'integration_broken',
          exitCode: ExitCode.commandFailed,
          fix: `Check ${BUNDLED_PYTHON} on ${target.name} (a damaged Wazuh install), then run setup again.`,
        })
      }
    },
  }
}

async function desiredFiles(context: StepContext, paths: IntegrationPaths, options: IntegrationInstallOptions): Promise<DesiredFile[]> {
  const {target} = context
  const url = context.facts.get(MispFacts.url) as string | undefined
  const keyFile = context.facts.get(MispFacts.wazuhKeyFile) as string | undefined
  const caFile = context.facts.get(MispFacts.caFile) as string | undefined
  if (!url || !keyFile) {
    throw new MispwazuhError('The MISP URL and the Wazuh auth key are not known, so the integration cannot be configured.', {
      code: 'misp_unknown',
      exitCode: ExitCode.invalidInput,
      fix: 'Run setup without --skip-misp, or give an existing MISP with --misp-url and --misp-admin-key-file.',
    })
  }

  const source = options.mispTarget ?? target
  const key = await readRootFile(source, keyFile)
  context.redactor.register(key, 'misp-wazuh-key')
  const files: DesiredFile[] = []
  let caPath: string | null = null
  if (caFile && (await source.exists(caFile))) {
    files.push({path: paths.caFile, content: await source.readFile(caFile), mode: 0o640, owner: 'root', group: 'wazuh'})
    caPath = paths.caFile
  } else if (caFile && context.dryRun) {
    files.push({path: paths.caFile, content: '(the MISP CA certificate, created by an earlier step)\n', mode: 0o640, owner: 'root', group: 'wazuh'})
    caPath = paths.caFile
  }

  const config = {
    misp_url: url,
    api_key: key,
    ca_file: caPath,
    verify_tls: options.verifyTls,
    cache_dir: paths.cacheDir,
    state_file: path.join(paths.cacheDir, 'state.json'),
  }
  files.push({path: paths.config, content: `${JSON.stringify(config, null, 2)}\n`, mode: 0o640, owner: 'root', group: 'wazuh', secret: true})
  files.push({path: paths.script, content: integrationScript(path.dirname(path.dirname(paths.script))), mode: 0o750, owner: 'root', group: 'wazuh'})
  return files
}

async function readRootFile(target: Target, file: string): Promise<string> {
  const stat = await target.stat(file)
  if (!stat) {
    throw new MispwazuhError(`The Wazuh auth key file ${file} does not exist on ${target.name}.`, {code: 'misp_key_missing', exitCode: ExitCode.mispFailed, fix: 'Run setup again so that the MISP steps create the Wazuh user and its key.'})
  }

  return (await target.readText(file)).trim()
}

async function directoryChanges(target: Target, paths: IntegrationPaths): Promise<Change[]> {
  const changes: Change[] = []
  const wanted: Array<[string, number, string, string]> = [
    [paths.configDir, 0o750, 'root', 'wazuh'],
    [paths.cacheDir, 0o750, 'wazuh', 'wazuh'],
  ]
  for (const [directory, mode, owner, group] of wanted) {
    const stat = await target.stat(directory)
    if (!stat || stat.type !== 'directory' || stat.mode !== mode || stat.owner !== owner || stat.group !== group) {
      changes.push({kind: 'command', summary: `${stat ? 'set' : 'create'} directory ${directory} (${owner}:${group} 0${mode.toString(8)})`, argv: [['mkdir', '-p', directory], ['chown', `${owner}:${group}`, directory], ['chmod', mode.toString(8), directory]]})
    }
  }

  return changes
}

/**
 * Checks what integratord needs from the installed script: the bundled interpreter exists and
 * compiles the script when run as wazuh, the wazuh user can execute it and cannot write it.
 * Returns a description of the first problem, or undefined.
 */
export async function scriptProblem(target: Target, script: string, wazuhDir: string = DEFAULT_WAZUH_DIR): Promise<string | undefined> {
  const interpreter = path.join(wazuhDir, 'framework', 'python', 'bin', 'python3')
  if (!(await target.exists(interpreter))) return `the bundled interpreter ${interpreter} is missing`

  const asWazuh = (argv: string[]) => target.exec(['runuser', '-u', 'wazuh', '--', ...argv], {allowExitCodes: 'any', timeoutMs: 30_000})
  if ((await asWazuh(['test', '-x', script])).exitCode !== 0) return `the wazuh user cannot execute ${script}`
  if ((await asWazuh(['test', '-w', script])).exitCode === 0) return `the wazuh user can write ${script}, and integratord refuses to run such a script`

  const compile = await asWazuh([interpreter, '-c', 'import sys; compile(open(sys.argv[1], "rb").read(), sys.argv[1], "exec")', script])
  if (compile.exitCode !== 0) return `${interpreter} cannot compile ${script}: ${compile.stderr.trim().split('\n').pop() ?? ''}`
  return undefined
}
