import {SELFTEST_GROUP, SYSMON_EVENTS} from '../wazuh/integration-groups.js'
import {readLogAlertLevel} from '../wazuh/ossec-conf.js'
import {duplicateRuleIds, effectiveRules, type RuleDefinition, type RuleFile} from '../wazuh/rules.js'
import type {VerifyFacts} from './facts.js'
import {fail, pass, type HopOutcome} from './types.js'

const SETUP_AGAIN = 'Run `mispwazuh setup` again with the same options.'

/** The rules mispwazuh relies on, found by what they match rather than by ID, so a renumbered install is found too. */
export interface IntegrationRules {
  selftest: RuleDefinition | undefined
  result: RuleDefinition | undefined
  iocFound: RuleDefinition | undefined
}

export function findIntegrationRules(files: readonly RuleFile[]): IntegrationRules {
  const all = files.flatMap((file) => file.rules)
  const selftest = all.find((rule) => rule.fields.some((field) => field.name === 'mispwazuh.selftest') && rule.groups.includes(SELFTEST_GROUP))
  const result = all.find((rule) => rule.fields.some((field) => field.name === 'integration' && /misp/.test(field.value)) && rule.ifSid === undefined)
  const iocFound = result ? all.find((rule) => rule.ifSid?.split(',').map((id) => id.trim()).includes(String(result.id)) && rule.fields.some((field) => field.name === 'misp.event_id')) : undefined
  return {selftest, result, iocFound}
}

/**
 * Checks that the stock Sysmon base rules the integration's groups come from are at or above
 * log_alert_level. Below it, their events never reach alerts.json, so integratord never gets them.
 */
export async function checkSysmonLevels(facts: VerifyFacts): Promise<HopOutcome> {
  const conf = await facts.ossecConf()
  const ruleset = await facts.ruleset()
  if (!conf.value || !ruleset.value) return fail(`Cannot read the ruleset: ${conf.problem ?? ruleset.problem}.`, SETUP_AGAIN)

  const logAlertLevel = readLogAlertLevel(conf.value)
  const effective = effectiveRules(ruleset.value.files)
  const low: string[] = []
  const absent: string[] = []
  for (const event of SYSMON_EVENTS) {
    const rule = effective.get(event.baseRuleId)
    if (!rule) {
      absent.push(`${event.baseRuleId} (event ${event.eventId})`)
      continue
    }

    const level = rule.level ?? 0
    if (level < logAlertLevel) {
      const where = rule.overwrittenIn.length > 0 ? `overwritten in ${rule.overwrittenIn.at(-1)}` : `stock, ${rule.definedIn}`
      low.push(`${event.baseRuleId} (Sysmon event ${event.eventId}, ${event.what}) is level ${level} (${where})`)
    }
  }

  const notes = absent.length > 0 ? [`Not in the loaded ruleset: ${absent.join(', ')}.`] : []
  if (low.length > 0) {
    return fail(
      `Below log_alert_level ${logAlertLevel}, so these Sysmon events never reach alerts.json or the integration: ${low.join('; ')}.`,
      `Raise them with overwrite="yes" copies at level ${Math.max(3, logAlertLevel)} or more in etc/rules: ${SETUP_AGAIN.toLowerCase()} It writes the copies into local_rules.xml.`,
      notes,
    )
  }

  const checked = SYSMON_EVENTS.length - absent.length
  return pass(`All ${checked} Sysmon base rules the integration uses are at level ${logAlertLevel} (log_alert_level) or above.`, notes)
}

/**
 * Checks that misp.xml is loaded with the result rules, the self-test rule exists, and no rule mispwazuh
 * writes or raises shares its ID with another rule (analysisd keeps only the first one).
 */
export async function checkIntegrationRules(facts: VerifyFacts): Promise<HopOutcome> {
  const conf = await facts.ossecConf()
  const ruleset = await facts.ruleset()
  if (!conf.value || !ruleset.value) return fail(`Cannot read the ruleset: ${conf.problem ?? ruleset.problem}.`, SETUP_AGAIN)

  const files = ruleset.value.files
  const problems: string[] = []
  const notes: string[] = []
  const mispFile = files.find((file) => file.file === 'etc/rules/misp.xml')
  if (!mispFile) problems.push('etc/rules/misp.xml is not loaded, so the integration\'s results raise no alert')
  for (const file of files) {
    if (file.parseError) notes.push(`${file.file} is not well formed (${file.parseError.detail}, line ${file.parseError.line}).`)
  }

  const rules = findIntegrationRules(files)
  if (!rules.result) problems.push('no rule matches the integration\'s results (decoded_as json, field integration = misp)')
  if (!rules.iocFound) problems.push('no rule raises an alert when MISP knows an IoC (field misp.event_id under the result rule)')
  if (!rules.selftest) problems.push(`no self-test rule (field mispwazuh.selftest, group ${SELFTEST_GROUP}) in etc/rules`)
  const logAlertLevel = readLogAlertLevel(conf.value)
  if (rules.selftest && (rules.selftest.level ?? 0) < logAlertLevel) problems.push(`the self-test rule ${rules.selftest.id} is level ${rules.selftest.level ?? 0}, below log_alert_level ${logAlertLevel}`)

  // IDs whose duplicates break the chain: mispwazuh's own rules and the Sysmon base rules it raises.
  const watched = new Set<number>(SYSMON_EVENTS.map((event) => event.baseRuleId))
  for (const file of files) for (const rule of file.rules) if (rule.managed) watched.add(rule.id)
  for (const rule of [rules.selftest, rules.result, rules.iocFound]) if (rule) watched.add(rule.id)

  for (const [id, definitions] of duplicateRuleIds(files)) {
    const places = definitions.map((rule) => `${rule.file} line ${rule.line}`).join(' and ')
    if (watched.has(id)) problems.push(`rule ${id} is defined in ${places}; analysisd keeps only the first and ignores the other (warning 7612)`)
    else notes.push(`Rule ${id} is defined twice (${places}); it is not one mispwazuh uses.`)
  }

  if (problems.length > 0) {
    const duplicate = problems.some((problem) => problem.startsWith('rule '))
    return fail(
      `${problems.join('; ')}.`,
      duplicate ? 'Give the other rule a free ID in 100000-120000 (or remove it), then restart the manager; or run `mispwazuh setup --rule-id-base N` with a free range.' : `${SETUP_AGAIN} It writes misp.xml and the self-test rule.`,
      notes,
    )
  }

  return pass(`etc/rules/misp.xml is loaded (result rule ${rules.result?.id}, IoC rule ${rules.iocFound?.id}), the self-test rule ${rules.selftest?.id} is level ${rules.selftest?.level}, and no rule ID mispwazuh uses is duplicated.`, notes)
}
