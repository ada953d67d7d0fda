import {SYSMON_EVENTS, SYSMON_NETWORK_CONNECTION_RULE, SELFTEST_GROUP} from './integration-groups.js'
import {findManagedRegions, renderManagedRegion, replaceRegionEdit} from './managed-region.js'
import {GUIDE_RULES, type MispwazuhRuleIds} from './rule-ids.js'
import {isUserRuleFile, type RuleDefinition, type RuleFile} from './rules.js'
import {buildSelftestEvent, SELFTEST_LOCATION_PATTERN} from './selftest.js'
import {renderWazuhTemplate} from './templates.js'
import {applyEdits, dedent, detectEol, detectIndentUnit, lineNumberAt, removeElementEdit, tabsToSpaces, type TextEdit} from './xml-text.js'

export const LOCAL_RULES_REGION = 'local-rules'
export const MISP_RULES_REGION = 'misp-rules'

/** An `overwrite="yes"` copy of a stock rule: the stock text with only the level changed. */
export interface OverwriteCopy {
  ruleId: number
  eventId: number
  stockFile: string
  stockLevel: number | undefined
  /** The enclosing `<group name>` of the stock rule; the copy keeps it so the alert keeps its groups. */
  groupName: string
  /** The copy as text, LF endings, two spaces per level, starting at column 0. */
  text: string
}

/**
 * Returns the stock definition of a rule: its first definition outside etc/ that is not an
 * overwrite. Undefined when the loaded ruleset does not have it.
 */
export function findStockRule(files: readonly RuleFile[], id: number): {file: RuleFile; rule: RuleDefinition} | undefined {
  for (const file of files) {
    if (isUserRuleFile(file.file)) continue
    const rule = file.rules.find((candidate) => candidate.id === id && !candidate.overwrite)
    if (rule) return {file, rule}
  }

  return undefined
}

/**
 * Derives an overwrite copy from the installed stock rule. An overwrite replaces everything but
 * the parent (fields, description, options, groups), so the copy repeats all of it. Only the
 * `level` attribute changes, and `overwrite="yes"` is added.
 */
export function deriveOverwriteCopy(file: RuleFile, rule: RuleDefinition, level: number, eventId: number): OverwriteCopy {
  const element = rule.element
  if (!element) throw new Error(`Rule ${rule.id} in ${file.file} could not be located in the file`)

  const openingTag = file.text.slice(element.start, element.innerStart)
  const body = file.text.slice(element.innerStart, element.end)
  let tag = /\slevel\s*=/.test(openingTag)
    ? openingTag.replace(/(\slevel\s*=\s*)(["'])[^"']*\2/, `$1"${level}"`)
    : openingTag.replace(/^<rule\b/, `<rule level="${level}"`)
  tag = tag.replace(/\soverwrite\s*=\s*(["'])[^"']*\1/, '').replace(/\s*>$/, ' overwrite="yes">')

  // Indent the first line like the rest of the rule so that dedent keeps the inner structure.
  const firstIndent = /[ \t]*$/.exec(file.text.slice(0, element.start))?.[0] ?? ''
  const text = tabsToSpaces(dedent(`${firstIndent}${tag}${body}`.replaceAll('\r\n', '\n')))
  return {ruleId: rule.id, eventId, stockFile: file.file, stockLevel: rule.level, groupName: rule.groupName ?? '', text}
}

/** Builds the overwrite copies for the Sysmon events the integration handles; events whose stock rule is missing are returned apart. */
export function buildOverwriteCopies(files: readonly RuleFile[], level: number): {copies: OverwriteCopy[]; missing: number[]} {
  const copies: OverwriteCopy[] = []
  const missing: number[] = []
  for (const event of SYSMON_EVENTS) {
    const stock = findStockRule(files, event.baseRuleId)
    if (!stock?.rule.element) {
      missing.push(event.baseRuleId)
      continue
    }

    copies.push(deriveOverwriteCopy(stock.file, stock.rule, level, event.eventId))
  }

  return {copies, missing}
}

function indentBlock(text: string, indent: string): string {
  return text
    .split('\n')
    .map((line) => (line.trim() === '' ? '' : `${indent}${line}`))
    .join('\n')
}

/** Groups consecutive copies with the same enclosing group name, as the template writes one `<group>` per name. */
function groupCopies(copies: readonly OverwriteCopy[]): Array<{name: string; rules: string[]}> {
  const groups: Array<{name: string; rules: string[]}> = []
  for (const copy of copies) {
    const last = groups.at(-1)
    const text = indentBlock(copy.text, '  ')
    if (last && last.name === copy.groupName) last.rules.push(`\n${text}`)
    else groups.push({name: copy.groupName, rules: [text]})
  }

  return groups
}

/** Renders the body of the local_rules.xml region: overwrite copies, the self-test rule, the PowerShell rules. */
export function renderLocalRules(ids: MispwazuhRuleIds, copies: readonly OverwriteCopy[], alertLevel: number, logAlertLevel: number): string {
  return renderWazuhTemplate('local-rules.xml.hbs', {
    overwriteGroups: groupCopies(copies),
    logAlertLevel,
    alertLevel,
    ids,
    selftestExample: buildSelftestEvent('canary.example'),
    selftestGroup: SELFTEST_GROUP,
    selftestLocation: SELFTEST_LOCATION_PATTERN,
    networkConnectionRule: SYSMON_NETWORK_CONNECTION_RULE,
  })
}

/** Renders the body of the misp.xml region: the result rules for what the integration sends back. */
export function renderMispRules(ids: MispwazuhRuleIds, alertLevel: number): string {
  return renderWazuhTemplate('misp-rules.xml.hbs', {ids, alertLevel})
}

// ---------------------------------------------------------------------------------------------
// Taking over hand-made rules

export interface AdoptedRule {
  rule: RuleDefinition
  reason: string
}

/**
 * Returns the hand-made rules in user rule files that mispwazuh replaces with its managed
 * version: the public guide's rules (by ID and topic) and overwrites of the stock Sysmon base
 * rules mispwazuh raises (two overwrites of one rule would fight over its level).
 */
export function findAdoptableRules(files: readonly RuleFile[]): AdoptedRule[] {
  const overwritten = new Set(SYSMON_EVENTS.map((event) => event.baseRuleId))
  const adopted: AdoptedRule[] = []
  for (const file of files) {
    if (!isUserRuleFile(file.file)) continue
    for (const rule of file.rules) {
      if (rule.managed || !rule.element) continue
      const ruleText = file.text.slice(rule.element.start, rule.element.end)
      const guide = GUIDE_RULES.find((entry) => entry.id === rule.id)
      if (guide && !rule.overwrite && guide.topic.test(ruleText)) {
        adopted.push({rule, reason: `the guide's hand-made rule ${rule.id}`})
      } else if (rule.overwrite && overwritten.has(rule.id)) {
        adopted.push({rule, reason: `a hand-made overwrite of stock rule ${rule.id}`})
      }
    }
  }

  return adopted
}

export interface RuleFileEdit {
  text: string
  notes: string[]
}

/**
 * Edits one user rule file: removes the adopted rules in it (a `<group>` whose rules are all
 * adopted goes as a whole), then replaces the managed region or appends it at the end. With
 * `regionBody` undefined only the removals happen. A missing file (`current` undefined) is
 * created with just the region.
 */
export function editRuleFile(file: string, current: string | undefined, adopted: readonly RuleDefinition[], regionId: string | undefined, regionBody: string | undefined): RuleFileEdit {
  const text = current ?? ''
  const eol = current === undefined ? '\n' : detectEol(text)
  const indentUnit = current === undefined ? '  ' : detectIndentUnit(text)
  const edits: TextEdit[] = []
  const notes: string[] = []

  const handledGroups = new Set<unknown>()
  for (const rule of adopted) {
    if (!rule.element) continue
    const group = rule.groupElement
    const siblings = group ? group.children.filter((child) => child.name === 'rule') : []
    const allAdopted = group !== undefined && siblings.every((sibling) => adopted.some((candidate) => candidate.element === sibling))
    if (group && allAdopted) {
      if (!handledGroups.has(group)) edits.push(removeElementEdit(text, group))
      handledGroups.add(group)
    } else {
      edits.push(removeElementEdit(text, rule.element))
    }

    notes.push(`takes over ${rule.overwrite ? `the hand-made overwrite of rule ${rule.id}` : `hand-made rule ${rule.id}`} at line ${lineNumberAt(text, rule.element.start)}`)
  }

  // The removals come first, so the region is placed on the text that remains.
  const remaining = applyEdits(text, edits)
  if (regionId === undefined || regionBody === undefined) return {text: remaining, notes}

  const region = findManagedRegions(remaining, file).find((candidate) => candidate.id === regionId)
  const rendered = renderManagedRegion(regionId, regionBody, region?.indent ?? '', indentUnit, eol)
  if (region) return {text: applyEdits(remaining, [replaceRegionEdit(region, rendered)]), notes}

  const needsNewline = remaining !== '' && !remaining.endsWith('\n')
  const withNewline = needsNewline ? `${remaining}${eol}` : remaining
  const needsBlankLine = remaining.trim() !== '' && !/\n[ \t]*\r?\n$/.test(withNewline)
  return {text: `${withNewline}${needsBlankLine ? eol : ''}${rendered}`, notes}
}
