import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../../cli/base-command.js'
import {ExitCode, MispwazuhError} from '../../errors.js'
import type {StepResult} from '../../plan/step.js'
import {runPlan} from '../../plan/runner.js'
import {WAZUH_CONFIG_FACTS, wazuhConfigStep} from '../../wazuh/config-step.js'
import type {MispwazuhRuleIds} from '../../wazuh/rule-ids.js'
import type {ApplyRecord} from '../../wazuh/transaction.js'

const SETTINGS = [...CONNECTION_SETTINGS, 'wazuhDir', 'ruleIdBase', 'renumberRuleIds', 'dryRun'] as const

export interface WazuhConfigureResult {
  target: string
  dryRun: boolean
  step: StepResult
  ruleIds: MispwazuhRuleIds | undefined
  apply: ApplyRecord | undefined
  restartNeeded: boolean
}

export default class WazuhConfigure extends BaseCommand<WazuhConfigureResult> {
  static override summary = 'Write the custom-misp integration block and the MISP rules into the Wazuh manager configuration.'

  static override description = `Puts three managed parts into the manager's files, each between mispwazuh marker comments,
and leaves everything else in the files byte for byte:

  ossec.conf       the custom-misp <integration> block (Sysmon, file integrity and self-test
                   groups, JSON alerts; no URL or key: those live in the integration's config)
  local_rules.xml  overwrite copies of the stock Sysmon base rules with the level raised to
                   log_alert_level, the self-test rule and the PowerShell connection rules
  misp.xml         the rules for the results the integration sends back

Hand-made parts from the public guide (a custom-misp block, rules 100502, 100503,
100620-100622, an overwrite of 61650) are taken over once. A rule ID that another rule already
uses stops the command (or, with --renumber-rule-ids, moves to the next free range).

Every file is backed up next to itself, written atomically and checked with wazuh-analysisd -t
and wazuh-integratord -t; a new WARNING or ERROR line restores every file of the run. The
manager loads the change at its next restart. \`mispwazuh wazuh rollback\` undoes the last run.

Exit status: 0 when done or nothing to change, 2 with --dry-run when changes are pending, 22 when
a file is malformed, a rule ID collides or Wazuh rejects the change.`

  static override examples = [
    '<%= config.bin %> wazuh configure --dry-run',
    '<%= config.bin %> wazuh configure --host root@192.0.2.20 --rule-id-base 110000',
    '<%= config.bin %> wazuh configure --wazuh-dir /var/ossec --json',
  ]

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<WazuhConfigureResult> {
    const {flags} = await this.parse(WazuhConfigure)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('wazuh-configure')
    const target = await this.openTarget(values, log)
    const dryRun = values.dryRun ?? false

    let result: WazuhConfigureResult
    try {
      const step = wazuhConfigStep({
        wazuhDir: values.wazuhDir ?? '/var/ossec',
        ruleIdBase: values.ruleIdBase ?? 100_600,
        renumberRuleIds: values.renumberRuleIds ?? false,
        command: 'wazuh configure',
      })
      const facts = new Map<string, unknown>()
      this.progress(`${dryRun ? 'Planning' : 'Configuring'} the Wazuh manager on ${target.name}...`)
      const run = await runPlan({
        steps: [step],
        context: {target, log, redactor: this.redactor, dryRun, facts},
        dryRun,
        onEvent: (event) => {
          if (event.type === 'progress') this.progress(`  ${event.message}`)
        },
      })
      const stepResult = run.steps[0] as StepResult
      result = {
        target: target.name,
        dryRun,
        step: stepResult,
        ruleIds: facts.get(WAZUH_CONFIG_FACTS.ruleIds) as MispwazuhRuleIds | undefined,
        apply: facts.get(WAZUH_CONFIG_FACTS.apply) as ApplyRecord | undefined,
        restartNeeded: facts.get(WAZUH_CONFIG_FACTS.restartNeeded) === true,
      }
    } finally {
      await target.close()
    }

    if (result.step.status === 'failed') {
      // Print what was planned before the failure, then let the base command render the error.
      this.print(renderConfigureResult(result))
      const error = result.step.error
      throw new MispwazuhError(result.step.reason, {code: error?.code ?? 'internal_error', exitCode: error?.exitCode ?? ExitCode.failed, fix: error?.fix})
    }

    this.print(renderConfigureResult(result))
    if (dryRun && result.step.status === 'pending') process.exitCode = ExitCode.changesPending
    return result
  }
}

/** Renders the result for people: every change with its diff, the warnings, then what happened and what to do next. */
export function renderConfigureResult(result: WazuhConfigureResult): string {
  const {step} = result
  const lines: string[] = []
  for (const change of step.changes) {
    lines.push(`${result.dryRun ? 'Would ' : ''}${change.summary}`)
    if (change.diff) lines.push(change.diff.trimEnd(), '')
  }

  for (const warning of step.warnings) lines.push(`Warning: ${warning}`)
  if (step.warnings.length > 0) lines.push('')

  if (step.status === 'ok') {
    lines.push(`${step.reason.charAt(0).toUpperCase()}${step.reason.slice(1)}`)
  } else if (step.status === 'pending') {
    lines.push(`Dry run: ${step.reason}. Nothing was written; run without --dry-run to apply.`)
  } else if (step.status === 'changed') {
    lines.push(`Applied: ${step.reason}.`)
    for (const file of result.apply?.files ?? []) lines.push(`  ${file.path}${file.backup ? ` (backup ${file.backup})` : file.created ? ' (created)' : ''}`)
    if (result.apply && result.apply.unvalidated.length > 0) lines.push(`Not checked by Wazuh (not found): ${result.apply.unvalidated.join(', ')}`)
    lines.push('Restart the manager to load the change: systemctl restart wazuh-manager. Undo it with: mispwazuh wazuh rollback')
  }

  return lines.join('\n')
}
