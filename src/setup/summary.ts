import type {PlanRunResult} from '../plan/runner.js'

export interface SetupSummary {
  target: string
  dryRun: boolean
  mispUrl: string | undefined
  mispCredentialsFile: string | undefined
  wazuhCredentialsFile: string | undefined
  dashboardUrl: string | undefined
  wazuhVersion: string | undefined
  logFile: string | undefined
  /** The --host flag to repeat in the next commands, or empty for the local machine. */
  hostFlags: string
}

/** Renders what setup prints on stdout: the plan (dry run) or what happened, then where everything is. */
export function renderSummary(result: PlanRunResult, summary: SetupSummary): string {
  const lines: string[] = []
  if (summary.dryRun) {
    lines.push(`Plan for ${summary.target}:`, '')
    for (const step of result.steps) {
      lines.push(`${marker(step.status)} ${step.title}: ${step.reason}`)
      for (const change of step.changes) {
        lines.push(`    ${change.summary}`)
        for (const argv of change.argv ?? []) lines.push(`      $ ${argv.join(' ')}`)
        if (change.diff) lines.push(...change.diff.trimEnd().split('\n').map((line) => `      ${line}`))
      }

      for (const warning of step.warnings) lines.push(`    warning: ${warning}`)
    }

    lines.push('')
    if (result.failed) {
      lines.push(`Planning stopped at "${result.failed.title}".`)
      if (result.failed.error?.fix) lines.push(`Fix: ${result.failed.error.fix}`)
      if (summary.logFile) lines.push(`Log: ${summary.logFile}`)
    }
    else if (result.counts.pending > 0) lines.push(`${result.counts.pending} step(s) would change the host. Run without --dry-run to apply.`)
    else lines.push('Nothing to change: the host is already set up.')
    return lines.join('\n')
  }

  lines.push(`Setup of ${summary.target}:`, '')
  for (const step of result.steps) {
    // A changed step's reason describes the state before the change, so it is shown as such.
    lines.push(step.status === 'changed' ? `${marker(step.status)} ${step.title}: done (before: ${step.reason})` : `${marker(step.status)} ${step.title}: ${step.reason}`)
  }

  for (const step of result.steps) for (const warning of step.warnings) lines.push(`warning: ${step.title}: ${warning}`)
  const {ok, changed, skipped, failed, pending} = result.counts
  lines.push('', `${changed} changed, ${ok} ok, ${skipped} skipped${failed ? `, ${failed} failed` : ''}${pending ? `, ${pending} not run` : ''}.`)

  if (result.interrupted) {
    lines.push('', 'Setup was interrupted between steps; what ran is complete and consistent. Run setup again to resume.')
    if (summary.logFile) lines.push(`Log: ${summary.logFile}`)
    return lines.join('\n')
  }

  if (result.failed) {
    lines.push('', `Setup stopped at "${result.failed.title}".`)
    if (result.failed.error?.fix) lines.push(`Fix: ${result.failed.error.fix}`)
    lines.push('Completed steps stay done; run setup again to resume.')
    if (summary.logFile) lines.push(`Log: ${summary.logFile}`)
    return lines.join('\n')
  }

  lines.push('')
  if (summary.mispUrl) lines.push(`MISP:                 ${summary.mispUrl}`)
  if (summary.dashboardUrl) lines.push(`Wazuh dashboard:      ${summary.dashboardUrl}${summary.wazuhVersion ? ` (Wazuh ${summary.wazuhVersion})` : ''}`)
  if (summary.mispCredentialsFile) lines.push(`MISP credentials:     ${summary.mispCredentialsFile} on ${summary.target} (root only)`)
  if (summary.wazuhCredentialsFile) lines.push(`Wazuh credentials:    ${summary.wazuhCredentialsFile} on ${summary.target} (root only)`)
  if (summary.logFile) lines.push(`Log:                  ${summary.logFile}`)
  const host = summary.hostFlags ? ` ${summary.hostFlags}` : ''
  lines.push(
    '',
    'Next:',
    `  Windows hosts:  mispwazuh agent-config${host}   (Sysmon and the agent's Sysmon channel)`,
    `  Prove it:       mispwazuh verify${host}`,
  )
  return lines.join('\n')
}

function marker(status: string): string {
  return {ok: '  ok     ', changed: '  changed', skipped: '  skipped', failed: '  FAILED ', pending: '  pending'}[status] ?? `  ${status}`
}
