import path from 'node:path'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Change} from '../plan/step.js'
import {planFile, type DesiredFile, type FilePlan} from '../steps/file-change.js'
import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import {describeGroup, INTEGRATION_NAME, integrationGroups} from './integration-groups.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts, supportsIntegrationTimeout, wazuhPaths, type ManagerFacts} from './manager.js'
import {describeRulesetSections, editOssecConf, HAND_MADE_INTEGRATION_NAMES, readIntegrationBlocks, readLogAlertLevel, type OssecConfEdit} from './ossec-conf.js'
import {buildOverwriteCopies, editRuleFile, findAdoptableRules, LOCAL_RULES_REGION, MISP_RULES_REGION, renderLocalRules, renderMispRules, type AdoptedRule} from './rule-edits.js'
import {allRuleIds, collisionsFor, findFreeBase, RuleIdCollisionError, ruleIdsFrom, type MispwazuhRuleIds} from './rule-ids.js'
import {duplicateRuleIds, effectiveRules, isUserRuleFile, loadRuleset, parseRuleFile, readRulesetConfig, rulesetGroups, sortByFileName, wouldLoadRuleFile, type LoadedRuleset, type RuleDefinition, type RuleFile, type RulesetConfig} from './rules.js'
import {renderWazuhTemplate} from './templates.js'
import {parseWazuhXml, type WazuhXmlDocument} from './xml-text.js'

export interface WazuhConfigOptions {
  /** The manager's installation directory. Default /var/ossec. */
  wazuhDir?: string
  /** First ID of the rules mispwazuh writes (100000-119960). */
  ruleIdBase: number
  /** On a collision with a rule mispwazuh did not write, use the next free range instead of stopping. */
  renumberRuleIds?: boolean
  /** `<timeout>` of the integration block in seconds, written on Wazuh 4.8 and later. */
  integrationTimeout?: number
  /** `<retries>` of the integration block, written on Wazuh 4.8 and later. */
  integrationRetries?: number
  redactor?: Redactor
}

export const DEFAULT_INTEGRATION_TIMEOUT = 10
export const DEFAULT_INTEGRATION_RETRIES = 2

/** Owners and modes the Wazuh installer gives these files. */
export const OSSEC_CONF_OWNERSHIP = {owner: 'root', group: 'wazuh', mode: 0o660} as const
export const RULE_FILE_OWNERSHIP = {owner: 'wazuh', group: 'wazuh', mode: 0o660} as const

export interface WazuhConfigPlan {
  wazuhDir: string
  version: string | undefined
  logAlertLevel: number
  /** Level of the raised Sysmon rules and the self-test rules: at least log_alert_level and at least 3. */
  alertLevel: number
  ruleIds: MispwazuhRuleIds
  /** Set when the IDs moved away from the requested base because of a collision. */
  renumberedFrom: number | undefined
  /** Every file the configuration covers, changed or not, with what would change. */
  files: FilePlan[]
  changes: Change[]
  /** Hand-made parts that the plan takes over, per file. */
  adopted: AdoptedRule[]
  warnings: string[]
  /** The reason nothing changes, or a summary of the changes. */
  reason: string
}

/**
 * Plans the whole Wazuh configuration change without touching the target. It reads the
 * installed ossec.conf and every rule file the manager loads, renders the managed parts and
 * places them into the files as text edits. Then it checks the result and returns one file
 * plan per file, with a unified diff.
 */
export async function planWazuhConfig(target: Target, options: WazuhConfigOptions): Promise<WazuhConfigPlan> {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  const paths = wazuhPaths(wazuhDir)
  const warnings: string[] = []
  const installed = await readInstalledConfig(target, wazuhDir, warnings)
  const {facts, conf, logAlertLevel, alertLevel, ruleset} = installed

  // Hand-made parts to take over, then the rule IDs.
  const adopted = findAdoptableRules(ruleset.files)
  const {ruleIds, renumberedFrom} = chooseRuleIds(ruleset.files, adopted, options)

  // The managed parts.
  const {copies, missing} = buildOverwriteCopies(ruleset.files, alertLevel)
  for (const id of missing) warnings.push(`Stock rule ${id} is not in the loaded ruleset, so its Sysmon events stay at their stock level and never reach the integration.`)

  const integrationXml = renderWazuhTemplate('integration.xml.hbs', {
    name: INTEGRATION_NAME,
    groups: integrationGroups().join(','),
    timeoutSupported: supportsIntegrationTimeout(facts.version),
    timeout: options.integrationTimeout ?? DEFAULT_INTEGRATION_TIMEOUT,
    retries: options.integrationRetries ?? DEFAULT_INTEGRATION_RETRIES,
  })
  const regionBodies = new Map([
    [relative(wazuhDir, paths.localRules), {id: LOCAL_RULES_REGION, body: renderLocalRules(ruleIds, copies, alertLevel, logAlertLevel)}],
    [relative(wazuhDir, paths.mispRules), {id: MISP_RULES_REGION, body: renderMispRules(ruleIds, alertLevel)}],
  ])

  // New file contents, checked as analysisd would load them.
  const ossecEdit = editOssecConf(conf, integrationXml)
  const ruleFileEdits = await editRuleFiles(target, wazuhDir, ruleset.files, adopted, regionBodies)
  const blocks = readIntegrationBlocks(parseWazuhXml(ossecEdit.text, paths.ossecConf), HAND_MADE_INTEGRATION_NAMES)
  if (blocks.length !== 1 || !blocks[0]?.managed) throw new Error(`The edited ossec.conf contains ${blocks.length} MISP integration blocks instead of one managed block`)

  const newFiles = simulateRuleset(ruleset.files, ruleFileEdits)
  checkOwnRules(newFiles, ruleIds)
  warnings.push(...groupWarnings(newFiles, logAlertLevel))
  if (renumberedFrom !== undefined) warnings.push(`Rule IDs ${renumberedFrom}+ collide with rules mispwazuh did not write; using ${ruleIds.base}-${Math.max(...allRuleIds(ruleIds))} instead.`)

  // File plans with diffs.
  const {files, changes} = await planFiles(target, wazuhDir, ossecEdit, ruleFileEdits, new Set(regionBodies.keys()), options.redactor)
  const ids = allRuleIds(ruleIds)
  const summary = `${INTEGRATION_NAME} integration block, rules ${Math.min(...ids)}-${Math.max(...ids)}, ${copies.length} stock Sysmon rules at level ${alertLevel}`
  const reason = changes.length === 0
    ? `unchanged: ossec.conf, local_rules.xml and misp.xml already contain the managed configuration (${summary})`
    : `${summary} (${changes.length} ${changes.length === 1 ? 'file changes' : 'files change'})`

  return {wazuhDir, version: facts.version, logAlertLevel, alertLevel, ruleIds, renumberedFrom, files, changes, adopted, warnings, reason}
}

interface InstalledConfig {
  facts: ManagerFacts
  conf: WazuhXmlDocument
  logAlertLevel: number
  alertLevel: number
  ruleset: LoadedRuleset
}

/** Reads the manager facts, ossec.conf and every loaded rule file, adding warnings for what is off. */
async function readInstalledConfig(target: Target, wazuhDir: string, warnings: string[]): Promise<InstalledConfig> {
  const paths = wazuhPaths(wazuhDir)
  const facts = await readManagerFacts(target, wazuhDir)
  if (!facts.installed) {
    throw new MispwazuhError(`No Wazuh manager found in ${wazuhDir} on ${target.name}: ${paths.ossecConf} or ${paths.wazuhControl} is missing.`, {
      code: 'wazuh_not_installed',
      exitCode: ExitCode.requirementsNotMet,
      fix: 'Install the Wazuh manager first (`mispwazuh setup` installs it), or pass --wazuh-dir with its installation directory.',
    })
  }

  if (facts.type !== undefined && facts.type !== 'server') {
    throw new MispwazuhError(`${wazuhDir} on ${target.name} contains a Wazuh ${facts.type}, not a manager.`, {
      code: 'wazuh_not_manager',
      exitCode: ExitCode.requirementsNotMet,
      fix: 'Run this against the Wazuh manager host.',
    })
  }

  const script = path.posix.join(paths.integrationsDir, INTEGRATION_NAME)
  if ((await target.stat(script))?.type !== 'file') {
    warnings.push(`${script} is not installed yet; integratord logs "File not found inside 'integrations'" for the ${INTEGRATION_NAME} block until it is (mispwazuh setup installs it).`)
  }

  if (facts.version === undefined) warnings.push(`Could not read the Wazuh version from \`${paths.wazuhControl} info\`; the integration block leaves out <timeout> and <retries>, which Wazuh before 4.8 rejects.`)

  const conf = parseWazuhXml(await target.readText(paths.ossecConf), paths.ossecConf)
  const logAlertLevel = readLogAlertLevel(conf)
  const rulesetConfig = readRulesetConfig(conf)
  if (rulesetConfig.sections > 1) {
    warnings.push(`ossec.conf has ${rulesetConfig.sections} <ruleset> sections, and analysisd uses the rule files (and lists) of the last one only. Merge them into one: ${describeRulesetSections(conf).join('; ')}`)
  }

  assertRuleFilesLoaded(rulesetConfig, [relative(wazuhDir, paths.localRules), relative(wazuhDir, paths.mispRules)], paths.ossecConf)
  const ruleset = await loadRuleset(target, wazuhDir, rulesetConfig)
  for (const file of ruleset.files) {
    if (file.parseError) warnings.push(`${file.file} is not well formed (${file.parseError.detail}, line ${file.parseError.line}); its rule IDs were read with a plain scan.`)
  }

  return {facts, conf, logAlertLevel, alertLevel: Math.min(16, Math.max(3, logAlertLevel)), ruleset}
}

/** Returns the rule IDs from the requested base, or from the next free range when renumbering is allowed. */
function chooseRuleIds(files: readonly RuleFile[], adopted: readonly AdoptedRule[], options: WazuhConfigOptions): {ruleIds: MispwazuhRuleIds; renumberedFrom: number | undefined} {
  const foreign = foreignRules(files, new Set(adopted.map((entry) => entry.rule)))
  const requested = options.ruleIdBase
  const collisions = collisionsFor(requested, foreign)
  if (collisions.length === 0) return {ruleIds: ruleIdsFrom(requested), renumberedFrom: undefined}

  const freeBase = findFreeBase(requested, foreign)
  if (!options.renumberRuleIds || freeBase === undefined) throw new RuleIdCollisionError(collisions, requested, freeBase)
  return {ruleIds: ruleIdsFrom(freeBase), renumberedFrom: requested}
}

interface RuleFileChange {
  text: string
  notes: string[]
}

/**
 * Returns the new text of each user rule file that changes: local_rules.xml and misp.xml with
 * their managed region, and any other file that loses rules taken over.
 */
async function editRuleFiles(target: Target, wazuhDir: string, files: readonly RuleFile[], adopted: readonly AdoptedRule[], regions: ReadonlyMap<string, {id: string; body: string}>): Promise<Map<string, RuleFileChange>> {
  const byFile = groupAdopted(adopted)
  const edits = new Map<string, RuleFileChange>()
  for (const file of new Set([...regions.keys(), ...byFile.keys()])) {
    const absolute = path.posix.join(wazuhDir, file)
    const current = files.find((candidate) => candidate.file === file)?.text ?? (await readIfExists(target, absolute))
    const rules = (byFile.get(file) ?? []).map((entry) => entry.rule)
    const region = regions.get(file)
    edits.set(file, editRuleFile(absolute, current, rules, region?.id, region?.body))
  }

  return edits
}

/**
 * Plans each file with a diff: ossec.conf as root:wazuh 0660, local_rules.xml and misp.xml as
 * wazuh:wazuh 0660, and other edited rule files with their current owner and mode.
 */
async function planFiles(target: Target, wazuhDir: string, ossecEdit: OssecConfEdit, ruleFileEdits: ReadonlyMap<string, RuleFileChange>, managedFiles: ReadonlySet<string>, redactor: Redactor | undefined): Promise<{files: FilePlan[]; changes: Change[]}> {
  const files: FilePlan[] = []
  const notesByPath = new Map<string, string[]>()
  const ossecConf = wazuhPaths(wazuhDir).ossecConf
  files.push(await planFile(target, {path: ossecConf, content: ossecEdit.text, ...OSSEC_CONF_OWNERSHIP}, redactor))
  notesByPath.set(ossecConf, ossecEdit.notes)

  for (const [file, edit] of ruleFileEdits) {
    const absolute = path.posix.join(wazuhDir, file)
    const ownership = managedFiles.has(file) ? RULE_FILE_OWNERSHIP : await currentOwnership(target, absolute)
    files.push(await planFile(target, {path: absolute, content: edit.text, ...ownership} satisfies DesiredFile, redactor))
    notesByPath.set(absolute, edit.notes)
  }

  const changes = files.flatMap((plan) => {
    if (!plan.change) return []
    const notes = notesByPath.get(plan.desired.path) ?? []
    return [{...plan.change, summary: notes.length > 0 ? `${plan.change.summary}: ${notes.join('; ')}` : plan.change.summary}]
  })
  return {files, changes}
}

function relative(wazuhDir: string, absolute: string): string {
  return path.posix.relative(wazuhDir, absolute)
}

async function readIfExists(target: Target, file: string): Promise<string | undefined> {
  const stat = await target.stat(file)
  return stat?.type === 'file' ? target.readText(file) : undefined
}

async function currentOwnership(target: Target, file: string): Promise<{owner: string; group: string; mode: number}> {
  const stat = await target.stat(file)
  if (!stat) return RULE_FILE_OWNERSHIP
  return {owner: stat.owner, group: stat.group, mode: stat.mode & 0o7777}
}

/** Rules mispwazuh did not write and does not take over, by ID (the first definition wins). */
function foreignRules(files: readonly RuleFile[], adopted: ReadonlySet<RuleDefinition>): Map<number, RuleDefinition> {
  const foreign = new Map<number, RuleDefinition>()
  for (const file of files) {
    for (const rule of file.rules) {
      if (rule.managed || adopted.has(rule) || foreign.has(rule.id)) continue
      foreign.set(rule.id, rule)
    }
  }

  return foreign
}

function groupAdopted(adopted: readonly AdoptedRule[]): Map<string, AdoptedRule[]> {
  const byFile = new Map<string, AdoptedRule[]>()
  for (const entry of adopted) {
    const list = byFile.get(entry.rule.file) ?? []
    list.push(entry)
    byFile.set(entry.rule.file, list)
  }

  return byFile
}

/** Returns the ruleset as analysisd would load it after the edits: changed files replaced, new files in their sorted place. */
function simulateRuleset(files: readonly RuleFile[], edits: ReadonlyMap<string, {text: string}>): RuleFile[] {
  const result = files.map((file) => {
    const edit = edits.get(file.file)
    return edit ? parseRuleFile(file.file, edit.text, {strict: true}) : file
  })

  for (const [file, edit] of edits) {
    if (!result.some((candidate) => candidate.file === file)) result.push(parseRuleFile(file, edit.text, {strict: true}))
  }

  const order = sortByFileName(result.map((file) => file.file))
  return order.map((file) => result.find((candidate) => candidate.file === file) as RuleFile)
}

/** Raises an error when analysisd would not load local_rules.xml or misp.xml with the installed `<ruleset>`. */
function assertRuleFilesLoaded(config: RulesetConfig, files: readonly string[], ossecConf: string): void {
  const missing = files.filter((file) => !wouldLoadRuleFile(config, file))
  if (missing.length === 0) return
  throw new MispwazuhError(`The manager would not load ${missing.join(' and ')}: the <ruleset> of ${ossecConf} does not read etc/rules (or excludes the file).`, {
    code: 'wazuh_rules_not_loaded',
    exitCode: ExitCode.validationFailed,
    fix: `Add <rule_dir>etc/rules</rule_dir> to the <ruleset> section of ${ossecConf}, as the stock configuration has it, and run the command again.`,
  })
}

/** Raises an error unless each rule ID mispwazuh writes is defined exactly once (overwrites aside) in the simulated ruleset. */
function checkOwnRules(files: readonly RuleFile[], ids: MispwazuhRuleIds): void {
  const duplicates = duplicateRuleIds(files)
  for (const id of allRuleIds(ids)) {
    const definitions = files.flatMap((file) => file.rules.filter((rule) => rule.id === id && !rule.overwrite))
    if (definitions.length !== 1 || duplicates.has(id)) {
      throw new Error(`After the edit, rule ${id} is defined ${definitions.length} times (${definitions.map((rule) => `${rule.file}:${rule.line}`).join(', ')})`)
    }
  }
}

/**
 * Returns warnings for integration groups that no rule of the ruleset uses, and for groups
 * whose rules all stay below log_alert_level. Alerts of those groups are never written to
 * alerts.json, so integratord never receives them.
 */
export function groupWarnings(files: readonly RuleFile[], logAlertLevel: number): string[] {
  const warnings: string[] = []
  const known = rulesetGroups(files)
  const rules = [...effectiveRules(files).values()]
  for (const group of integrationGroups()) {
    if (!known.has(group)) {
      warnings.push(`Group ${group} (${describeGroup(group)}) exists in no rule of the installed ruleset, so these events never reach the integration.`)
      continue
    }

    const levels = rules.filter((rule) => rule.groups.includes(group)).map((rule) => rule.level ?? 0)
    const highest = Math.max(0, ...levels)
    if (highest < logAlertLevel) {
      warnings.push(`Every rule in group ${group} (${describeGroup(group)}) is below log_alert_level ${logAlertLevel} (highest: ${highest}), so these events never reach alerts.json or the integration.`)
    }
  }

  return warnings
}

export {isUserRuleFile}
