import path from 'node:path'

import {ExitCode, InvalidInputError, MispwazuhError} from '../errors.js'
import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import {applyFile, planFile, type FilePlan} from '../steps/file-change.js'
import {backupPathFor, type Target} from '../target/target.js'
import {DEFAULT_WAZUH_DIR} from './manager.js'
import {childText, formatFragment, indentAt, lineStartAt, parseWazuhXml, startsLine, type TextEdit, applyEdits, type XmlElement} from './xml-text.js'

/** The Windows event channel Sysmon writes to. */
export const SYSMON_CHANNEL = 'Microsoft-Windows-Sysmon/Operational'

/**
 * The `<localfile>` that makes an agent read the Sysmon channel, written with two spaces per
 * level. formatFragment turns it into the target file's indentation and line endings.
 */
const SYSMON_LOCALFILE = [
  '<!-- mispwazuh: Sysmon events for the MISP integration -->',
  '<localfile>',
  `  <location>${SYSMON_CHANNEL}</location>`,
  '  <log_format>eventchannel</log_format>',
  '</localfile>',
].join('\n')

// Group names the Wazuh framework accepts (InputValidator.group: letters, digits, ".", "-", "_",
// at most 255 characters). "." and ".." would name a directory outside etc/shared/<group>.
const GROUP_NAME = /^[A-Za-z0-9._-]{1,255}$/

export function groupPaths(group: string, wazuhDir: string = DEFAULT_WAZUH_DIR) {
  assertGroupName(group)
  const sharedDir = path.posix.join(wazuhDir, 'etc', 'shared', group)
  return {
    sharedDir,
    agentConf: path.posix.join(sharedDir, 'agent.conf'),
    // The manager sends every file in etc/shared/<group> to the group's agents, so a backup next
    // to agent.conf would reach every agent: backups go under etc/mispwazuh instead.
    backupDir: path.posix.join(wazuhDir, 'etc', 'mispwazuh', 'backups', 'shared', group),
    agentGroups: path.posix.join(wazuhDir, 'bin', 'agent_groups'),
    verifyAgentConf: path.posix.join(wazuhDir, 'bin', 'verify-agent-conf'),
  }
}

/** Raises InvalidInputError unless `group` is a name Wazuh accepts for an agent group. */
export function assertGroupName(group: string): void {
  if (!GROUP_NAME.test(group) || group === '.' || group === '..') {
    throw new InvalidInputError(`Invalid agent group name "${group}". Wazuh group names use letters, digits, ".", "-" and "_" (at most 255 characters).`, 'Pass another --group.')
  }
}

// ---------------------------------------------------------------------------------------------
// agent.conf text edit

export interface AgentConfEdit {
  text: string
  changed: boolean
  /** Reason for the change (or for no change), shown in the plan. */
  reason: string
}

/**
 * Adds the Sysmon `<localfile>` to a shared agent.conf, inside an `<agent_config os="Windows">`
 * block, and changes nothing else in the file.
 *
 * - A file (or block) that already reads the Sysmon channel with `eventchannel`, in a block that
 *   applies to every agent or to Windows agents, is left as it is.
 * - Otherwise the `<localfile>` goes at the end of the first `<agent_config os="Windows">`
 *   block, or into a new such block appended at the end of the file.
 *
 * The new text keeps the file's indentation and line endings. Raises MispwazuhError when the
 * file reads the channel with another log format, and MalformedWazuhFileError when the file
 * is not well formed.
 */
export function addSysmonLocalfile(text: string, file: string): AgentConfEdit {
  if (text.trim() === '') {
    const block = formatFragment(windowsBlock(), '', '  ', '\n')
    return {text: block, changed: true, reason: 'new agent.conf with an <agent_config os="Windows"> block that reads the Sysmon channel'}
  }

  const document = parseWazuhXml(text, file)
  const {eol, indentUnit} = document
  const blocks = document.roots.filter((root) => root.name === 'agent_config')

  for (const block of blocks.filter(appliesToWindows)) {
    for (const localfile of block.children.filter((child) => child.name === 'localfile')) {
      if (childText(text, localfile, 'location') !== SYSMON_CHANNEL) continue
      const format = childText(text, localfile, 'log_format')
      if (format === 'eventchannel') {
        return {text, changed: false, reason: `already reads ${SYSMON_CHANNEL} (${describeBlock(block)})`}
      }

      throw new MispwazuhError(`${file} already has a <localfile> for ${SYSMON_CHANNEL} with log_format "${format ?? ''}" instead of eventchannel.`, {
        code: 'agent_conf_conflict',
        exitCode: ExitCode.validationFailed,
        fix: `Change its log_format to eventchannel (or remove that <localfile>) in ${file}, then run again.`,
      })
    }
  }

  const windows = blocks.find((block) => isExactlyWindowsBlock(block))
  let edit: TextEdit
  let reason: string
  if (windows && windows.innerStart === windows.end) {
    // <agent_config os="Windows"/>: replace the empty element with a full block.
    const baseIndent = indentAt(text, windows.start)
    const replacement = formatFragment(windowsBlock(), baseIndent, indentUnit, eol).slice(baseIndent.length).replace(new RegExp(`${eol}$`), '')
    edit = {start: windows.start, end: windows.end, replacement}
    reason = 'adds the Sysmon <localfile> to the empty <agent_config os="Windows"> block'
  } else if (windows) {
    const closingIndent = indentAt(text, windows.innerEnd)
    const fragment = formatFragment(SYSMON_LOCALFILE, closingIndent + indentUnit, indentUnit, eol)
    edit = startsLine(text, windows.innerEnd)
      ? {start: lineStartAt(text, windows.innerEnd), end: lineStartAt(text, windows.innerEnd), replacement: fragment}
      : {start: windows.innerEnd, end: windows.innerEnd, replacement: eol + formatFragment(SYSMON_LOCALFILE, indentAt(text, windows.start) + indentUnit, indentUnit, eol) + indentAt(text, windows.start)}
    reason = 'adds the Sysmon <localfile> to the <agent_config os="Windows"> block'
  } else {
    const separator = text.endsWith('\n') ? eol : eol + eol
    edit = {start: text.length, end: text.length, replacement: separator + formatFragment(windowsBlock(), '', indentUnit, eol)}
    reason = 'appends an <agent_config os="Windows"> block that reads the Sysmon channel'
  }

  const edited = applyEdits(text, [edit])
  parseWazuhXml(edited, file)
  return {text: edited, changed: true, reason}
}

function windowsBlock(): string {
  const inner = SYSMON_LOCALFILE.split('\n').map((line) => `  ${line}`).join('\n')
  return `<agent_config os="Windows">\n${inner}\n</agent_config>`
}

/** Tells whether an `<agent_config>` applies to Windows agents: no attributes, or only an `os` naming Windows. */
function appliesToWindows(block: XmlElement): boolean {
  const names = Object.keys(block.attributes)
  if (names.length === 0) return true
  return names.length === 1 && names[0] === 'os' && /windows/i.test(block.attributes.os ?? '')
}

function isExactlyWindowsBlock(block: XmlElement): boolean {
  const names = Object.keys(block.attributes)
  return names.length === 1 && block.attributes.os === 'Windows'
}

function describeBlock(block: XmlElement): string {
  const attributes = Object.entries(block.attributes).map(([name, value]) => `${name}="${value}"`)
  return attributes.length === 0 ? 'in <agent_config>, for every agent' : `in <agent_config ${attributes.join(' ')}>`
}

// ---------------------------------------------------------------------------------------------
// Manager commands

export interface GroupAgent {
  id: string
  name: string
}

/**
 * Raises an error for output of agent_groups that reports a failure. agent_groups exits 0 even
 * then (Wazuh 4.x framework/scripts/agent_groups.py prints "Error <code>: <message>" or
 * "Internal error: ..." and returns normally), so its output decides.
 */
function assertAgentGroupsSucceeded(target: Target, argv: readonly string[], output: string): void {
  const failure = /^(?:Error \d+:.*|Internal error:.*|Invalid options.*|Error importing.*)$/m.exec(output)
  if (failure) {
    throw new MispwazuhError(`${argv.join(' ')} failed on ${target.name}: ${failure[0]}`, {
      code: 'agent_groups_failed',
      exitCode: ExitCode.commandFailed,
      fix: 'Check that the Wazuh manager is running (and is the cluster master), then run again.',
    })
  }
}

/**
 * Lists the agents in a group with `agent_groups -l -g NAME`, whose lines read
 * `  ID: 001  Name: WIN-01.`; "No agents found in group" means none.
 */
export async function listGroupAgents(target: Target, group: string, wazuhDir: string = DEFAULT_WAZUH_DIR): Promise<GroupAgent[]> {
  const paths = groupPaths(group, wazuhDir)
  const argv = [paths.agentGroups, '-l', '-g', group]
  const result = await target.exec(argv, {timeoutMs: 60_000})
  assertAgentGroupsSucceeded(target, argv, result.stdout + result.stderr)
  return parseGroupAgents(result.stdout)
}

export function parseGroupAgents(output: string): GroupAgent[] {
  const agents: GroupAgent[] = []
  for (const match of output.matchAll(/^\s*ID:\s*(\d+)\s+Name:\s*(.*?)\.?\s*$/gm)) {
    agents.push({id: match[1] as string, name: match[2] as string})
  }

  return agents
}

// ---------------------------------------------------------------------------------------------
// Steps

/** Creates the agent group with `agent_groups -a -g NAME -q` when its shared directory is missing. */
export function ensureAgentGroupStep(group: string, wazuhDir: string = DEFAULT_WAZUH_DIR): Step {
  const paths = groupPaths(group, wazuhDir)
  const argv = [paths.agentGroups, '-a', '-g', group, '-q']
  return {
    id: 'agent-group',
    title: `Agent group ${group}`,
    async check(context: StepContext): Promise<StepCheck> {
      const directory = await context.target.stat(paths.sharedDir)
      if (directory?.type === 'directory') return {status: 'ok', reason: `group ${group} exists (${paths.sharedDir})`, changes: []}

      if ((await context.target.stat(paths.agentGroups))?.type !== 'file') {
        throw new MispwazuhError(`${paths.agentGroups} not found on ${context.target.name}: this is not a Wazuh manager.`, {
          code: 'wazuh_manager_missing',
          exitCode: ExitCode.requirementsNotMet,
          fix: 'Point --host at the Wazuh manager (the cluster master in a cluster).',
        })
      }

      const change: Change = {kind: 'command', summary: `create agent group ${group}`, argv: [argv]}
      return {status: 'change', reason: `group ${group} does not exist`, changes: [change]}
    },
    async apply(context: StepContext): Promise<void> {
      const result = await context.target.exec(argv, {timeoutMs: 60_000})
      assertAgentGroupsSucceeded(context.target, argv, result.stdout + result.stderr)
      context.log.info(`agent_groups: ${result.stdout.trim()}`)
      if ((await context.target.stat(paths.sharedDir))?.type !== 'directory') {
        throw new MispwazuhError(`agent_groups reported no error, but ${paths.sharedDir} does not exist on ${context.target.name}.`, {
          code: 'agent_group_missing',
          exitCode: ExitCode.commandFailed,
          fix: 'Create the group in the Wazuh dashboard (Agents management, Groups), then run again.',
        })
      }
    },
  }
}

/**
 * Adds the Sysmon `<localfile>` to the group's shared agent.conf (wazuh:wazuh 0660), with a
 * backup and an atomic write, then checks the file with verify-agent-conf when the manager has
 * it. A file the verifier rejects is put back as it was.
 */
export function sysmonAgentConfStep(group: string, wazuhDir: string = DEFAULT_WAZUH_DIR): Step {
  const paths = groupPaths(group, wazuhDir)
  let plan: FilePlan | undefined
  let plannedBeforeGroupExisted = false

  const check = async (context: StepContext): Promise<StepCheck> => {
    const stat = await context.target.stat(paths.agentConf)
    const current = stat?.type === 'file' ? await context.target.readText(paths.agentConf) : ''
    const edit = addSysmonLocalfile(current, paths.agentConf)
    plan = await planFile(context.target, {path: paths.agentConf, content: edit.text, mode: 0o660, owner: 'wazuh', group: 'wazuh'}, context.redactor)
    if (!plan.change) return {status: 'ok', reason: `${paths.agentConf} ${edit.reason}`, changes: []}

    plannedBeforeGroupExisted = (await context.target.stat(paths.sharedDir))?.type !== 'directory'
    const reason = plannedBeforeGroupExisted
      ? `${paths.agentConf}: the group does not exist yet; agent_groups creates a default agent.conf, which then gets the Sysmon <localfile>`
      : `${paths.agentConf} ${edit.changed ? edit.reason : 'has an owner or mode other than wazuh:wazuh 0660'}`
    return {status: 'change', reason, changes: [plan.change]}
  }

  return {
    id: 'agent-conf',
    title: `Sysmon <localfile> in ${paths.agentConf}`,
    check,
    async apply(context: StepContext): Promise<void> {
      // A group created earlier in this run has a fresh default agent.conf: plan again against it.
      if (!plan || plannedBeforeGroupExisted) await check(context)
      if (!plan?.change) return

      const backupPath = await backUpOutsideShared(context, paths, plan)
      await applyFile(context.target, {...plan, current: undefined, contentChanged: plan.contentChanged || plan.metadataChanged})

      const problem = await verifyAgentConf(context.target, paths.verifyAgentConf, paths.agentConf)
      if (problem === undefined) return

      await restore(context.target, plan, backupPath)
      throw new MispwazuhError(`verify-agent-conf rejected ${paths.agentConf} on ${context.target.name}; the previous file is back in place:\n${problem}`, {
        code: 'agent_conf_invalid',
        exitCode: ExitCode.validationFailed,
        fix: `Fix ${paths.agentConf} so that ${paths.verifyAgentConf} -f ${paths.agentConf} prints OK, then run again.`,
      })
    },
  }
}

/**
 * Runs verify-agent-conf on one file when the manager has the tool. Returns its output when it
 * reports a problem (non-zero exit status or an ERROR line), undefined when the file passes or
 * the tool is missing.
 */
export async function verifyAgentConf(target: Target, tool: string, file: string): Promise<string | undefined> {
  if ((await target.stat(tool))?.type !== 'file') return undefined
  const result = await target.exec([tool, '-f', file], {allowExitCodes: 'any', timeoutMs: 60_000})
  const output = `${result.stdout}${result.stderr}`.trim()
  if (result.exitCode === 0 && !/\bERROR\b/.test(output)) return undefined
  return output || `exit status ${result.exitCode}`
}

/** Copies the current agent.conf, with its owner and mode, into the backup directory outside etc/shared. */
async function backUpOutsideShared(context: StepContext, paths: ReturnType<typeof groupPaths>, plan: FilePlan): Promise<string | undefined> {
  if (plan.current === undefined) return undefined
  const backupPath = backupPathFor(path.posix.join(paths.backupDir, 'agent.conf'))
  await context.target.mkdir(paths.backupDir, {mode: 0o750, owner: 'root', group: 'wazuh'})
  await context.target.exec(['cp', '-p', '--', paths.agentConf, backupPath])
  context.log.info(`backup of ${paths.agentConf}: ${backupPath}`)
  return backupPath
}

/** Puts the previous file back: the backup copy (content, owner and mode), or no file when there was none. */
async function restore(target: Target, plan: FilePlan, backupPath: string | undefined): Promise<void> {
  if (backupPath) {
    await target.exec(['cp', '-p', '--', backupPath, plan.desired.path])
  } else if (plan.current === undefined) {
    await target.remove(plan.desired.path)
  } else {
    await target.writeFile(plan.desired.path, plan.current, {mode: plan.desired.mode, owner: plan.desired.owner, group: plan.desired.group})
  }
}
