import {chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {InvalidInputError, MispwazuhError} from '../errors.js'
import {runPlan} from '../plan/runner.js'
import type {StepResult} from '../plan/step.js'
import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import {addSysmonLocalfile, ensureAgentGroupStep, groupPaths, listGroupAgents, SYSMON_CHANNEL, sysmonAgentConfStep, type GroupAgent} from '../wazuh/agent-groups.js'
import {compareVersions, DEFAULT_WAZUH_DIR, readManagerFacts} from '../wazuh/manager.js'
import {firstLine, readManagerValues} from './manager-values.js'
import {toCrlf, withUtf8Bom} from './powershell.js'
import {buildWindowsSnippets, type WindowsSnippets} from './snippets.js'
import {INTEGRATION_EVENT_IDS, inspectSysmonConfig, shippedSysmonConfig} from './sysmon-config.js'

export interface AgentConfigOptions {
  /** The manager to read values from and to push to; undefined when values come from flags only. */
  target: Target | undefined
  /** Host part of --host, the default manager address; undefined without --host. */
  hostAddress: string | undefined
  managerAddress: string | undefined
  agentVersion: string | undefined
  group: string | undefined
  agentName: string | undefined
  /** Local file holding the registration password. */
  registrationPasswordFile: string | undefined
  sysmonConfigUrl: string | undefined
  push: boolean
  dryRun: boolean
  outDir: string | undefined
  generatorVersion: string
  log: RunLog
  redactor: Redactor
  progress: (message: string) => void
  wazuhDir?: string
}

export interface AgentConfigResult {
  manager: {
    address: string
    addressSource: 'flag' | 'host'
    version: string
    versionSource: 'flag' | 'manager'
  }
  group: string | undefined
  agentName: string | undefined
  registrationPassword: {
    required: boolean
    /** Source of the requirement: the manager's ossec.conf, a --registration-password-file, or none. */
    source: 'manager' | 'file' | 'unknown'
    /** Path of the authd.pass written to --out. Without it, the script prompts for the password at run time. */
    passwordFileWritten: string | undefined
  }
  sysmonConfig: {source: 'shipped' | 'url'; url: string | undefined; schemaVersion: string | undefined; eventIds: number[] | undefined}
  /** The group's shared agent.conf delivers the Sysmon <localfile>, so hosts need no ossec.conf edit. */
  localfileFromGroup: boolean
  snippets: Omit<WindowsSnippets, 'sysmonConfigXml'>
  push: {dryRun: boolean; steps: StepResult[]; agents: GroupAgent[] | undefined; agentConf: string} | undefined
  files: string[]
  warnings: string[]
}

/**
 * Runs agent-config: gathers the manager's values (from the manager or flags), pushes the Sysmon
 * `<localfile>` to an agent group with --push, builds the Windows snippets, and writes them to
 * `--out` when given.
 */
export async function runAgentConfig(options: AgentConfigOptions): Promise<AgentConfigResult> {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  const warnings: string[] = []
  assertOptionCombinations(options)

  const fromManager = await readFromManager(options, wazuhDir)
  const manager = managerSummary(options, fromManager?.version, warnings)
  if (isLoopback(manager.address)) {
    warnings.push(`The manager address ${manager.address} is a loopback address: every Windows agent would try to reach itself. Pass --manager-address with the address agents use to reach the manager.`)
  }

  let password = fromManager?.enrollment.password
  let passwordSource: AgentConfigResult['registrationPassword']['source'] = fromManager ? 'manager' : 'unknown'
  let passwordRequired = fromManager?.enrollment.passwordRequired ?? false
  if (options.registrationPasswordFile) {
    password = readLocalPassword(options.registrationPasswordFile)
    passwordRequired = true
    passwordSource = 'file'
  }

  if (password) options.redactor.register(password, 'registration password')
  if (fromManager?.enrollment.passwordRequired && !password) {
    warnings.push(`The manager requires a registration password, but ${fromManager.enrollment.passwordFile} does not exist (authd then picks a random one at start). The install script asks for the password on the Windows host.`)
  }

  if (fromManager?.enrollment.authDisabled) {
    warnings.push('Enrollment is off on the manager (<auth><disabled>yes</disabled> in ossec.conf), so agents cannot enroll by themselves. Turn authd on, or add each agent with manage_agents and import its key on the host.')
  }

  if (!fromManager && !options.registrationPasswordFile) {
    warnings.push('No Wazuh manager was read (pass --host, or run mispwazuh on the manager), so whether enrollment requires a registration password is unknown. If it does, pass --registration-password-file.')
  }

  let push: AgentConfigResult['push']
  if (options.push && options.target && options.group) push = await pushToGroup(options.target, options.group, options, wazuhDir)

  if (fromManager && options.group && !options.push && options.target && (await options.target.stat(groupPaths(options.group, wazuhDir).sharedDir))?.type !== 'directory') {
    warnings.push(`The agent group ${options.group} does not exist on the manager, and the manager rejects an enrollment that names a missing group. Create it first: run this again with --push.`)
  }

  const localfileFromGroup = push !== undefined || (fromManager !== undefined && (await groupDeliversLocalfile(options, wazuhDir)))
  const sysmonConfig = describeSysmonConfig(options.sysmonConfigUrl)
  const snippets = buildWindowsSnippets({
    managerAddress: manager.address,
    agentVersion: manager.version,
    group: options.group,
    agentName: options.agentName,
    managerPort: fromManager?.enrollment.managerPort,
    registrationPort: fromManager?.enrollment.registrationPort,
    registrationPasswordRequired: passwordRequired,
    sysmonConfigUrl: options.sysmonConfigUrl,
    localfileFromGroup,
    generatorVersion: options.generatorVersion,
  })

  const files = options.outDir ? writeOutFiles(options.outDir, snippets, password) : []
  const passwordFileWritten = files.find((file) => path.basename(file) === 'authd.pass')
  const {sysmonConfigXml: _omitted, ...shownSnippets} = snippets

  return {
    manager,
    group: options.group,
    agentName: options.agentName,
    registrationPassword: {required: passwordRequired, source: passwordSource, passwordFileWritten},
    sysmonConfig,
    localfileFromGroup,
    snippets: shownSnippets,
    push,
    files,
    warnings,
  }
}

function assertOptionCombinations(options: AgentConfigOptions): void {
  if (options.push && !options.group) {
    throw new InvalidInputError('--push needs --group: the Sysmon <localfile> goes into that agent group\'s shared agent.conf.', 'Pass --group NAME, for example --group windows.')
  }

  if (options.push && !options.target) {
    throw new InvalidInputError('--push needs the Wazuh manager: pass --host, or run mispwazuh on the manager itself.', 'Pass --host user@manager.')
  }

  if (options.dryRun && !options.push) {
    throw new InvalidInputError('--dry-run applies to --push only: without --push, agent-config changes nothing on any host.', 'Add --push, or leave out --dry-run.')
  }

  if (options.group) groupPaths(options.group)
}

async function readFromManager(options: AgentConfigOptions, wazuhDir: string) {
  if (!options.target) return undefined

  // On the local machine a manager is optional: without one (or without the right to read
  // it), values come from flags. --push needs the manager, so there the error is raised.
  if (!options.target.remote && !options.push) {
    try {
      if (!(await readManagerFacts(options.target, wazuhDir)).installed) return undefined
    } catch (error) {
      options.log.warn(`No readable Wazuh manager on ${options.target.name}: ${(error as Error).message}`)
      return undefined
    }
  }

  options.progress(`Reading the Wazuh version and enrollment settings on ${options.target.name}...`)
  return readManagerValues(options.target, wazuhDir)
}

/** True for 127.0.0.0/8, ::1 and localhost, which on a Windows host name that host itself. */
function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || address === '[::1]' || address.toLowerCase() === 'localhost'
}

function managerSummary(options: AgentConfigOptions, managerVersion: string | undefined, warnings: string[]): AgentConfigResult['manager'] {
  const address = options.managerAddress ?? options.hostAddress
  if (!address) {
    throw new InvalidInputError('Missing the manager address Windows agents connect to.', 'Pass --manager-address (for example --manager-address 192.0.2.20), or --host to use the SSH address.')
  }

  const version = options.agentVersion ?? managerVersion
  if (!version) {
    throw new InvalidInputError('Missing the Wazuh agent version.', 'Pass --agent-version with the manager\'s version (for example 4.12.0), or --host to read it from the manager.')
  }

  if (options.agentVersion && managerVersion && compareVersions(options.agentVersion, managerVersion) > 0) {
    warnings.push(`Agent version ${options.agentVersion} is newer than the manager (${managerVersion}); Wazuh managers do not accept agents newer than themselves.`)
  }

  return {
    address,
    addressSource: options.managerAddress ? 'flag' : 'host',
    version,
    versionSource: options.agentVersion ? 'flag' : 'manager',
  }
}

function readLocalPassword(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new InvalidInputError(`Cannot read the registration password file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`, 'Check the path given with --registration-password-file.')
  }

  const password = firstLine(text)
  if (!password) throw new InvalidInputError(`The registration password file ${file} is empty.`, 'Write the password on the first line of the file.')
  return password
}

async function pushToGroup(target: Target, group: string, options: AgentConfigOptions, wazuhDir: string): Promise<NonNullable<AgentConfigResult['push']>> {
  const steps = [ensureAgentGroupStep(group, wazuhDir), sysmonAgentConfStep(group, wazuhDir)]
  const run = await runPlan({
    steps,
    dryRun: options.dryRun,
    context: {target, log: options.log, redactor: options.redactor, dryRun: options.dryRun, facts: new Map()},
    onEvent: (event) => {
      if (event.type === 'start') options.progress(`[${event.index + 1}/${event.total}] ${event.step.title}`)
      if (event.type === 'applying') options.progress(`      ${event.check.changes.map((change) => change.summary).join('; ')}`)
    },
  })

  if (run.failed?.error) {
    const {code, message, exitCode, fix} = run.failed.error
    throw new MispwazuhError(message, {code, exitCode, fix})
  }

  const groupExists = (await target.stat(groupPaths(group, wazuhDir).sharedDir))?.type === 'directory'
  const agents = groupExists ? await listGroupAgents(target, group, wazuhDir) : undefined
  return {dryRun: options.dryRun, steps: run.steps, agents, agentConf: groupPaths(group, wazuhDir).agentConf}
}

/** Without --push, the group's agent.conf may already deliver the <localfile>: read it when the manager is at hand. */
async function groupDeliversLocalfile(options: AgentConfigOptions, wazuhDir: string): Promise<boolean> {
  if (!options.group || !options.target) return false
  const file = groupPaths(options.group, wazuhDir).agentConf
  if ((await options.target.stat(file))?.type !== 'file') return false
  return !addSysmonLocalfile(await options.target.readText(file), file).changed
}

function describeSysmonConfig(url: string | undefined): AgentConfigResult['sysmonConfig'] {
  if (url) return {source: 'url', url, schemaVersion: undefined, eventIds: undefined}
  const summary = inspectSysmonConfig(shippedSysmonConfig(), 'the shipped Sysmon configuration')
  return {source: 'shipped', url: undefined, schemaVersion: summary.schemaVersion, eventIds: summary.enabledEventIds.filter((id) => INTEGRATION_EVENT_IDS.includes(id))}
}

export const OUT_FILES = {
  installScript: 'install-wazuh-agent.ps1',
  sysmonConfig: 'sysmon-config.xml',
  localfile: 'sysmon-localfile.xml',
  password: 'authd.pass',
} as const

/**
 * Writes one file per snippet into `directory`: the install script (UTF-8 with BOM, CRLF), the
 * shipped Sysmon configuration, the `<localfile>` block, and, when the password is known,
 * authd.pass (mode 0600) for the script to pick up next to itself. Each file is written to a
 * temporary name and renamed, so a reader never sees half a file.
 */
function writeOutFiles(directory: string, snippets: WindowsSnippets, password: string | undefined): string[] {
  mkdirSync(directory, {recursive: true})
  const written: string[] = []
  const write = (name: string, data: Buffer | string, mode: number): void => {
    const file = path.join(directory, name)
    const temporary = path.join(directory, `.${name}.mispwazuh-tmp-${process.pid}`)
    writeFileSync(temporary, data, {mode})
    chmodSync(temporary, mode)
    renameSync(temporary, file)
    written.push(file)
  }

  write(OUT_FILES.installScript, withUtf8Bom(toCrlf(snippets.installScript)), 0o644)
  if (snippets.sysmonConfigXml) write(OUT_FILES.sysmonConfig, snippets.sysmonConfigXml, 0o644)
  write(OUT_FILES.localfile, snippets.localfileXml, 0o644)
  if (password) write(OUT_FILES.password, password, 0o600)
  return written
}

export {SYSMON_CHANNEL}
