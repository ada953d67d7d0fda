import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {planWazuhConfig, type WazuhConfigOptions, type WazuhConfigPlan} from './config-plan.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts} from './manager.js'
import {applyWazuhFiles, type ApplyRecord} from './transaction.js'

export const WAZUH_CONFIG_STEP_ID = 'wazuh-config'

/** Keys under which the step leaves values in `context.facts` for later steps and the summary. */
export const WAZUH_CONFIG_FACTS = {
  /** MispwazuhRuleIds of the planned or applied configuration. */
  ruleIds: 'wazuh.ruleIds',
  /** The ApplyRecord of the last apply in this run. */
  apply: 'wazuh.configApply',
  /** Set to true when ossec.conf or a rule file changed, so the manager needs a restart. */
  restartNeeded: 'wazuh.restartNeeded',
} as const

/**
 * Returns the step that writes the Wazuh side of the integration: the custom-misp `<integration>`
 * block in ossec.conf, the local rules (Sysmon level overwrites, self-test, PowerShell) in
 * local_rules.xml and the result rules in misp.xml, as one validated, reversible apply.
 * The manager reads them only after a restart, which this step does not do.
 */
export function wazuhConfigStep(options: WazuhConfigOptions & {command?: string}): Step {
  const plans = new WeakMap<StepCheck, WazuhConfigPlan>()
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR

  return {
    id: WAZUH_CONFIG_STEP_ID,
    title: 'Wazuh manager configuration (ossec.conf, local_rules.xml, misp.xml)',

    async check(context: StepContext): Promise<StepCheck> {
      if (context.dryRun && !(await readManagerFacts(context.target, wazuhDir)).installed) {
        return {status: 'change', reason: `the Wazuh manager is not installed in ${wazuhDir} yet; its configuration is planned once it is`, changes: []}
      }

      context.progress('reading ossec.conf and the loaded rule files')
      const plan = await planWazuhConfig(context.target, {...options, wazuhDir, redactor: context.redactor})
      context.facts.set(WAZUH_CONFIG_FACTS.ruleIds, plan.ruleIds)
      const check: StepCheck = {status: plan.changes.length === 0 ? 'ok' : 'change', reason: plan.reason, changes: plan.changes, warnings: plan.warnings}
      plans.set(check, plan)
      return check
    },

    async apply(context: StepContext, check: StepCheck): Promise<void> {
      const plan = plans.get(check) ?? (await planWazuhConfig(context.target, {...options, wazuhDir, redactor: context.redactor}))
      context.progress('writing and validating the Wazuh files')
      const record: ApplyRecord | undefined = await applyWazuhFiles(context.target, plan.files, {wazuhDir, command: options.command ?? 'setup', log: context.log})
      if (record) {
        context.facts.set(WAZUH_CONFIG_FACTS.apply, record)
        context.facts.set(WAZUH_CONFIG_FACTS.restartNeeded, true)
      }
    },
  }
}
