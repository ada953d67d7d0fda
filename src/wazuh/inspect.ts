import type {Target} from '../target/target.js'
import {describeGroup, integrationGroups, SYSMON_EVENTS} from './integration-groups.js'
import {DEFAULT_WAZUH_DIR, wazuhPaths} from './manager.js'
import {HAND_MADE_INTEGRATION_NAMES, readIntegrationBlocks, readLogAlertLevel, type IntegrationBlock} from './ossec-conf.js'
import {LOCAL_RULES_REGION, MISP_RULES_REGION} from './rule-edits.js'
import {ruleIdsFrom, type MispwazuhRuleIds} from './rule-ids.js'
import {effectiveRules, loadRuleset, readRulesetConfig, rulesetGroups, type EffectiveRule, type LoadedRuleset} from './rules.js'
import {SELFTEST_GROUP} from './selftest.js'
import {parseWazuhXml} from './xml-text.js'

/**
 * The Wazuh configuration found on a manager, read without changes, for `mispwazuh verify`:
 * the custom-misp integration blocks, the groups they list and whether the ruleset has them,
 * the effective level of each stock Sysmon rule the integration needs, and mispwazuh's rules.
 */
export interface WazuhConfigReport {
  wazuhDir: string
  logAlertLevel: number
  /** Every custom-misp or custom-misp.py block; a working setup has exactly one, managed. */
  integrationBlocks: IntegrationBlock[]
  /** Groups of the single managed block that no rule of the loaded ruleset uses. */
  missingGroups: Array<{group: string; meaning: string}>
  /** Groups the managed block should list but does not (an old or edited block). */
  unlistedGroups: string[]
  /** Effective level of each Sysmon base rule the integration needs, after overwrites. */
  sysmonRuleLevels: Array<{ruleId: number; eventId: number; level: number | undefined; reachesAlerts: boolean}>
  /** mispwazuh's rule IDs as found in local_rules.xml (self-test rule) or undefined when not configured. */
  ruleIds: MispwazuhRuleIds | undefined
  /** Both managed rule regions exist. */
  rulesInstalled: boolean
  ruleset: LoadedRuleset
}

export async function inspectWazuhConfig(target: Target, wazuhDir: string = DEFAULT_WAZUH_DIR): Promise<WazuhConfigReport> {
  const paths = wazuhPaths(wazuhDir)
  const conf = parseWazuhXml(await target.readText(paths.ossecConf), paths.ossecConf)
  const logAlertLevel = readLogAlertLevel(conf)
  const integrationBlocks = readIntegrationBlocks(conf, HAND_MADE_INTEGRATION_NAMES)
  const ruleset = await loadRuleset(target, wazuhDir, readRulesetConfig(conf))
  const known = rulesetGroups(ruleset.files)
  const effective = effectiveRules(ruleset.files)

  const listed = integrationBlocks.length === 1 ? (integrationBlocks[0] as IntegrationBlock).groups : []
  const missingGroups = listed.filter((group) => !known.has(group)).map((group) => ({group, meaning: describeGroup(group)}))
  const unlistedGroups = integrationGroups().filter((group) => !listed.includes(group))

  const sysmonRuleLevels = SYSMON_EVENTS.map((event) => {
    const level = effective.get(event.baseRuleId)?.level
    return {ruleId: event.baseRuleId, eventId: event.eventId, level, reachesAlerts: (level ?? 0) >= logAlertLevel}
  })

  const ruleIds = findRuleIds(ruleset)
  const regions = new Set(ruleset.files.flatMap((file) => file.regions.map((region) => region.id)))
  return {
    wazuhDir,
    logAlertLevel,
    integrationBlocks,
    missingGroups,
    unlistedGroups,
    sysmonRuleLevels,
    ruleIds,
    rulesInstalled: regions.has(LOCAL_RULES_REGION) && regions.has(MISP_RULES_REGION),
    ruleset,
  }
}

/** Returns the effective level of a rule after every overwrite in the loaded ruleset, e.g. 61650. */
export function effectiveRuleLevel(ruleset: LoadedRuleset, ruleId: number): number | undefined {
  return effectiveRules(ruleset.files).get(ruleId)?.level
}

export function effectiveRule(ruleset: LoadedRuleset, ruleId: number): EffectiveRule | undefined {
  return effectiveRules(ruleset.files).get(ruleId)
}

/** Finds the rule IDs mispwazuh wrote from its self-test rule: the managed rule in group mispwazuh_selftest is the base. */
function findRuleIds(ruleset: LoadedRuleset): MispwazuhRuleIds | undefined {
  for (const file of ruleset.files) {
    const rule = file.rules.find((candidate) => candidate.managed && candidate.groups.includes(SELFTEST_GROUP))
    if (rule) return ruleIdsFrom(rule.id)
  }

  return undefined
}
