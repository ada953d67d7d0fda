import path from 'node:path'

import type {Target} from '../target/target.js'
import {findManagedRegions, insideRegion, type ManagedRegion} from './managed-region.js'
import {osregexToRegExp} from './osregex.js'
import {childElements, descendants, elementText, lineNumberAt, MalformedWazuhFileError, parseWazuhXml, type WazuhXmlDocument, type XmlElement} from './xml-text.js'

/** One `<rule>` as written in a rule file. */
export interface RuleDefinition {
  id: number
  level: number | undefined
  overwrite: boolean
  /** Path of the file, relative to the Wazuh directory (`etc/rules/local_rules.xml`). */
  file: string
  line: number
  /** Groups the rule's alerts carry: the enclosing `<group name>` entries, then its own `<group>` entries. */
  groups: string[]
  /** The enclosing `<group name="...">` value as written, e.g. `windows,sysmon,`. */
  groupName: string | undefined
  ifSid: string | undefined
  fields: Array<{name: string; type: string | undefined; value: string}>
  /** The rule is inside a mispwazuh managed region. */
  managed: boolean
  element: XmlElement | undefined
  groupElement: XmlElement | undefined
}

export interface RuleFile {
  /** Path relative to the Wazuh directory. */
  file: string
  text: string
  /** Undefined when the file could not be parsed and its rules were read with a plain scan. */
  document: WazuhXmlDocument | undefined
  regions: ManagedRegion[]
  rules: RuleDefinition[]
  /** Group names that appear anywhere in the file. */
  groups: Set<string>
  parseError: MalformedWazuhFileError | undefined
}

export function splitGroups(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter(Boolean)
}

/**
 * Parses a rule file. With `strict`, a file that is not well formed raises an error. Without
 * it (for stock files mispwazuh only reads), its rule IDs and groups are read with a plain scan.
 */
export function parseRuleFile(file: string, text: string, options: {strict: boolean}): RuleFile {
  const regions = findManagedRegions(text, file)
  let document: WazuhXmlDocument
  try {
    document = parseWazuhXml(text, file)
  } catch (error) {
    if (options.strict || !(error instanceof MalformedWazuhFileError)) throw error
    return scanRuleFile(file, text, regions, error)
  }

  const rules: RuleDefinition[] = []
  const groups = new Set<string>()
  for (const element of descendants(document.roots)) {
    if (element.name === 'group' && element.attributes.name !== undefined) {
      for (const group of splitGroups(element.attributes.name)) groups.add(group)
    }

    if (element.name !== 'rule' || element.attributes.id === undefined) continue
    const rule = readRule(file, text, element, regions)
    for (const group of rule.groups) groups.add(group)
    rules.push(rule)
  }

  return {file, text, document, regions, rules, groups, parseError: undefined}
}

function readRule(file: string, text: string, element: XmlElement, regions: readonly ManagedRegion[]): RuleDefinition {
  let groupElement = element.parent
  while (groupElement && groupElement.name !== 'group') groupElement = groupElement.parent
  const groupName = groupElement?.attributes.name
  const ownGroups = childElements(element, 'group').flatMap((child) => splitGroups(elementText(text, child)))
  const level = element.attributes.level === undefined ? undefined : Number(element.attributes.level)

  return {
    id: Number(element.attributes.id),
    level: Number.isFinite(level) ? level : undefined,
    overwrite: element.attributes.overwrite === 'yes',
    file,
    line: lineNumberAt(text, element.start),
    groups: [...splitGroups(groupName ?? ''), ...ownGroups],
    groupName,
    ifSid: childElements(element, 'if_sid').map((child) => elementText(text, child))[0],
    fields: childElements(element, 'field').map((child) => ({name: child.attributes.name ?? '', type: child.attributes.type, value: elementText(text, child)})),
    managed: insideRegion(regions, element.start) !== undefined,
    element,
    groupElement,
  }
}

const RULE_TAG = /<rule\s[^>]*?\bid\s*=\s*["'](\d+)["'][^>]*>/g
const GROUP_TEXT = /<group(?:\s+name\s*=\s*["']([^"']*)["'])?\s*>([^<]*)/g
const GROUP_NAME_TAG = /<group\s+name\s*=\s*["']([^"']*)["']\s*>/g

/**
 * Reads rule IDs, levels and groups from a file the XML parser rejects. A rule's groups are
 * those of the last `<group name>` opened before it plus the `<group>` elements up to its
 * `</rule>`; comments are not skipped, so this is an approximation.
 */
function scanRuleFile(file: string, text: string, regions: ManagedRegion[], parseError: MalformedWazuhFileError): RuleFile {
  const groupTags = [...text.matchAll(GROUP_NAME_TAG)]
  const rules: RuleDefinition[] = []
  for (const match of text.matchAll(RULE_TAG)) {
    const tag = match[0]
    const level = /\blevel\s*=\s*["'](\d+)["']/.exec(tag)?.[1]
    const groupName = groupTags.filter((group) => group.index < match.index).at(-1)?.[1]
    const close = text.indexOf('</rule>', match.index)
    const body = text.slice(match.index + tag.length, close === -1 ? text.length : close)
    const ownGroups = [...body.matchAll(/<group>([^<]*)<\/group>/g)].flatMap((group) => splitGroups(group[1] ?? ''))
    rules.push({
      id: Number(match[1]),
      level: level === undefined ? undefined : Number(level),
      overwrite: /\boverwrite\s*=\s*["']yes["']/.test(tag),
      file,
      line: lineNumberAt(text, match.index),
      groups: [...splitGroups(groupName ?? ''), ...ownGroups],
      groupName,
      ifSid: /<if_sid>([^<]*)<\/if_sid>/.exec(body)?.[1]?.trim(),
      fields: [],
      managed: insideRegion(regions, match.index) !== undefined,
      element: undefined,
      groupElement: undefined,
    })
  }

  const groups = new Set<string>()
  for (const match of text.matchAll(GROUP_TEXT)) {
    for (const group of splitGroups(match[1] ?? '')) groups.add(group)
    if (match[1] === undefined) for (const group of splitGroups(match[2] ?? '')) groups.add(group)
  }

  return {file, text, document: undefined, regions, rules, groups, parseError}
}

// ---------------------------------------------------------------------------------------------
// Which files the manager loads

/**
 * The rule files settings analysisd uses, read the way Read_Rules (src/config/rules-config.c,
 * Wazuh 4.x) reads them. Each `<ruleset>` section starts from empty lists, so a later section
 * replaces the rule files of the earlier ones, and its lists when it has any `<list>`.
 */
export interface RulesetConfig {
  /** `rule_include` files of the section in effect, relative to the Wazuh directory. */
  includes: string[]
  /** `rule_dir` entries of the section in effect with their file pattern; `ruleset/rules` when it names none. */
  ruleDirs: Array<{dir: string; pattern: string}>
  /** `rule_exclude` values: a file name or a path relative to the Wazuh directory. */
  excludes: string[]
  lists: string[]
  /** Number of `<ruleset>` sections. More than one drops the rule files (and maybe lists) of all but the last. */
  sections: number
}

const DEFAULT_RULE_DIR = 'ruleset/rules'
const DEFAULT_RULE_PATTERN = '.xml$'

export function readRulesetConfig(document: WazuhXmlDocument): RulesetConfig {
  const config: RulesetConfig = {includes: [], ruleDirs: [{dir: DEFAULT_RULE_DIR, pattern: DEFAULT_RULE_PATTERN}], excludes: [], lists: [], sections: 0}
  for (const root of document.roots.filter((element) => element.name === 'ossec_config')) {
    for (const ruleset of childElements(root, 'ruleset')) {
      config.sections += 1
      const includes: string[] = []
      const ruleDirs: Array<{dir: string; pattern: string}> = []
      const excludes: string[] = []
      const lists: string[] = []
      for (const child of ruleset.children) {
        const value = elementText(document.text, child)
        if (child.name === 'rule_include') includes.push(value.includes('/') ? normalizeRelative(value) : `${DEFAULT_RULE_DIR}/${value}`)
        else if (child.name === 'rule_dir') ruleDirs.push({dir: normalizeRelative(value), pattern: child.attributes.pattern ?? DEFAULT_RULE_PATTERN})
        else if (child.name === 'rule_exclude') excludes.push(value)
        else if (child.name === 'list') lists.push(value)
      }

      config.includes = includes
      config.ruleDirs = ruleDirs.length > 0 ? ruleDirs : [{dir: DEFAULT_RULE_DIR, pattern: DEFAULT_RULE_PATTERN}]
      config.excludes = excludes
      if (lists.length > 0) config.lists = lists
    }
  }

  return config
}

/** Tells whether analysisd would load a rule file at this path (relative to the Wazuh directory) if it existed. */
export function wouldLoadRuleFile(config: RulesetConfig, file: string): boolean {
  const name = path.posix.basename(file)
  if (config.excludes.includes(file) || config.excludes.includes(name)) return false
  if (config.includes.includes(file)) return true
  return config.ruleDirs.some((entry) => path.posix.dirname(file) === entry.dir && osregexToRegExp(entry.pattern).test(file))
}

/**
 * Lists the rule files analysisd loads, in load order, as paths relative to the Wazuh
 * directory. The `rule_include` files come first, then each `rule_dir`'s files that match its
 * pattern and are not excluded. analysisd then sorts the whole list by file name, ignoring the
 * directory, and loads it in that order.
 */
export async function listLoadedRuleFiles(target: Target, wazuhDir: string, config: RulesetConfig): Promise<string[]> {
  const files = [...config.includes]
  for (const entry of config.ruleDirs) {
    const names = await listFiles(target, path.posix.join(wazuhDir, entry.dir))
    for (const name of names) {
      const file = `${entry.dir}/${name}`
      if (files.includes(file) || !wouldLoadRuleFile({...config, includes: []}, file)) continue
      files.push(file)
    }
  }

  return sortByFileName(files)
}

/** Sorts paths by their file name as analysisd does (byte order, directory ignored). */
export function sortByFileName(files: readonly string[]): string[] {
  return [...files].sort((a, b) => Buffer.compare(Buffer.from(path.posix.basename(a)), Buffer.from(path.posix.basename(b))))
}

function normalizeRelative(value: string): string {
  return path.posix.normalize(value.trim()).replace(/\/+$/, '')
}

/** Lists the regular files of a directory by name. Empty when the directory is missing. */
async function listFiles(target: Target, directory: string): Promise<string[]> {
  const stat = await target.stat(directory)
  if (stat?.type !== 'directory') return []
  const result = await target.exec(['find', directory, '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-printf', '%f\\n'], {timeoutMs: 60_000})
  return result.stdout.split('\n').filter(Boolean)
}

/**
 * Reads several text files in one command, so a remote target costs one round trip. Missing
 * files are left out of the result.
 */
export async function readTextFiles(target: Target, paths: readonly string[]): Promise<Map<string, string>> {
  const contents = new Map<string, string>()
  if (paths.length === 0) return contents
  const script = 'for f in "$@"; do if [ -f "$f" ]; then printf "%s %s\\n" "$(wc -c < "$f")" "$f"; cat -- "$f"; fi; done'
  const result = await target.exec(['sh', '-c', script, 'sh', ...paths], {timeoutMs: 120_000})
  const buffer = result.stdoutBuffer
  let offset = 0
  while (offset < buffer.length) {
    const newline = buffer.indexOf(0x0a, offset)
    if (newline === -1) break
    const header = buffer.subarray(offset, newline).toString('utf8')
    const space = header.indexOf(' ')
    const size = Number(header.slice(0, space))
    const file = header.slice(space + 1)
    if (!Number.isInteger(size) || size < 0) throw new Error(`Could not read files from ${target.name}: unexpected output "${header.slice(0, 80)}"`)
    contents.set(file, buffer.subarray(newline + 1, newline + 1 + size).toString('utf8'))
    offset = newline + 1 + size
  }

  return contents
}

// ---------------------------------------------------------------------------------------------
// The loaded ruleset

export interface LoadedRuleset {
  wazuhDir: string
  /** Rule files in load order. */
  files: RuleFile[]
  config: RulesetConfig
}

/** Tells whether a file (relative to the Wazuh directory) contains user rules that mispwazuh may edit. */
export function isUserRuleFile(file: string): boolean {
  return file.startsWith('etc/')
}

/**
 * Reads and parses every rule file the manager loads. Files under etc/ must be well formed
 * (mispwazuh may edit them); stock files that the parser rejects are scanned for IDs and groups.
 */
export async function loadRuleset(target: Target, wazuhDir: string, config: RulesetConfig): Promise<LoadedRuleset> {
  const relativeFiles = await listLoadedRuleFiles(target, wazuhDir, config)
  const absolute = relativeFiles.map((file) => path.posix.join(wazuhDir, file))
  const texts = await readTextFiles(target, absolute)
  const files: RuleFile[] = []
  for (const [index, file] of relativeFiles.entries()) {
    const text = texts.get(absolute[index] as string)
    if (text === undefined) continue
    files.push(parseRuleFile(file, text, {strict: isUserRuleFile(file)}))
  }

  return {wazuhDir, files, config}
}

/** The rule as analysisd ends up with it: the first definition, with later `overwrite="yes"` copies applied. */
export interface EffectiveRule {
  id: number
  level: number | undefined
  groups: string[]
  definedIn: string
  overwrittenIn: string[]
}

/**
 * Computes the effective rules of a ruleset in load order. A duplicate ID without overwrite is
 * ignored, as analysisd does (warning 7612). An overwrite replaces level and groups. analysisd
 * keeps the original's parent, which does not matter here.
 */
export function effectiveRules(files: readonly RuleFile[]): Map<number, EffectiveRule> {
  const rules = new Map<number, EffectiveRule>()
  for (const file of files) {
    for (const rule of file.rules) {
      const existing = rules.get(rule.id)
      if (!existing) {
        rules.set(rule.id, {id: rule.id, level: rule.level, groups: rule.groups, definedIn: file.file, overwrittenIn: []})
      } else if (rule.overwrite) {
        existing.level = rule.level
        if (rule.groups.length > 0 || file.document) existing.groups = rule.groups
        existing.overwrittenIn.push(file.file)
      }
    }
  }

  return rules
}

/** Returns the definitions of each rule ID that appears more than once without overwrite. */
export function duplicateRuleIds(files: readonly RuleFile[]): Map<number, RuleDefinition[]> {
  const byId = new Map<number, RuleDefinition[]>()
  for (const file of files) {
    for (const rule of file.rules) {
      if (rule.overwrite) continue
      const list = byId.get(rule.id) ?? []
      list.push(rule)
      byId.set(rule.id, list)
    }
  }

  return new Map([...byId].filter(([, list]) => list.length > 1))
}

/** Returns every group name used by any rule or `<group name>` of the ruleset. */
export function rulesetGroups(files: readonly RuleFile[]): Set<string> {
  const groups = new Set<string>()
  for (const file of files) for (const group of file.groups) groups.add(group)
  return groups
}
