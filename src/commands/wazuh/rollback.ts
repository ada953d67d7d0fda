import {Flags} from '@oclif/core'

import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../../cli/base-command.js'
import {ExitCode} from '../../errors.js'
import {applyRollback, planRollback, type RollbackPlan, type RollbackResult} from '../../wazuh/rollback.js'

const SETTINGS = [...CONNECTION_SETTINGS, 'wazuhDir', 'dryRun'] as const

export interface WazuhRollbackResult {
  target: string
  dryRun: boolean
  apply: {id: string; time: string; command: string}
  changes: Array<{summary: string; diff?: string | undefined}>
  conflicts: string[]
  result: Omit<RollbackResult, 'record'> | undefined
}

export default class WazuhRollback extends BaseCommand<WazuhRollbackResult> {
  static override summary = 'Undo the last `wazuh configure` (or setup) change to the Wazuh manager files.'

  static override description = `Restores the files of the last recorded apply from the backups written next to them
(<file>.mispwazuh-<time>), with their owner and mode, and removes files the apply created
(misp.xml on a first run). The apply record is kept in /var/ossec/etc/mispwazuh/config-applies.json.

A file that changed after the apply is not overwritten unless --force is given; the current
files are backed up before they are replaced. The manager loads the restored files at its next
restart.`

  static override examples = ['<%= config.bin %> wazuh rollback --dry-run', '<%= config.bin %> wazuh rollback --host root@192.0.2.20', '<%= config.bin %> wazuh rollback --force']

  static override flags = {
    ...settingFlags(SETTINGS),
    force: Flags.boolean({description: 'Restore the backups even when a file changed after the apply (the current file is backed up first).'}),
  }

  async run(): Promise<WazuhRollbackResult> {
    const {flags} = await this.parse(WazuhRollback)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('wazuh-rollback')
    const target = await this.openTarget(values, log)
    const wazuhDir = values.wazuhDir ?? '/var/ossec'
    const dryRun = values.dryRun ?? false

    let plan: RollbackPlan
    let result: RollbackResult | undefined
    try {
      plan = await planRollback(target, wazuhDir, this.redactor)
      if (!dryRun) result = await applyRollback(target, wazuhDir, plan, {force: flags.force, log})
    } finally {
      await target.close()
    }

    const output: WazuhRollbackResult = {
      target: target.name,
      dryRun,
      apply: {id: plan.record.id, time: plan.record.time, command: plan.record.command},
      changes: plan.files.filter((file) => file.action !== 'none').map((file) => ({summary: file.change.summary, diff: file.change.diff})),
      conflicts: plan.conflicts,
      result: result ? {restored: result.restored, removed: result.removed, validationProblems: result.validationProblems} : undefined,
    }
    this.print(renderRollback(output))
    if (dryRun && output.changes.length > 0) process.exitCode = ExitCode.changesPending
    return output
  }
}

export function renderRollback(output: WazuhRollbackResult): string {
  const lines = [`${output.dryRun ? 'Would roll back' : 'Rolled back'} the apply of ${output.apply.time} (${output.apply.command}):`]
  for (const change of output.changes) {
    lines.push(`  ${change.summary}`)
    if (output.dryRun && change.diff) lines.push(change.diff.trimEnd())
  }

  for (const conflict of output.conflicts) lines.push(`Changed since the apply: ${conflict}`)
  for (const problem of output.result?.validationProblems ?? []) lines.push(`Wazuh reports after the rollback: ${problem}`)
  if (!output.dryRun) lines.push('Restart the manager to load the restored files: systemctl restart wazuh-manager')
  return lines.join('\n')
}
