/**
 * A small step runner for the MISP tests: check every step, apply the pending ones (unless a dry
 * run), check again, and render the plan as text. setup's own runner lives in src/plan.
 */
import type {Step, StepCheck, StepContext} from '../../src/plan/step.js'

export interface RunRecord {
  id: string
  check: StepCheck
  /** The check after apply; undefined when nothing was applied. */
  after?: StepCheck
}

export async function runSteps(steps: readonly Step[], context: StepContext): Promise<RunRecord[]> {
  const records: RunRecord[] = []
  for (const step of steps) {
    const check = await step.check(context)
    const record: RunRecord = {id: step.id, check}
    records.push(record)
    if (check.status !== 'change' || context.dryRun) continue

    await step.apply(context, check)
    record.after = await step.check(context)
  }

  return records
}

/** Renders the plan the way a person reads it: one line per step, its changes and diffs indented. */
export function renderPlan(records: readonly RunRecord[]): string {
  const lines: string[] = []
  for (const record of records) {
    lines.push(`[${record.check.status}] ${record.id}: ${record.check.reason}`)
    for (const change of record.check.changes) {
      lines.push(`    - ${change.summary}`)
      for (const argv of change.argv ?? []) lines.push(`        $ ${argv.join(' ')}`)
      if (change.diff) lines.push(...change.diff.trimEnd().split('\n').map((line) => `        ${line}`))
    }

    for (const warning of record.check.warnings ?? []) lines.push(`    ! ${warning}`)
  }

  return `${lines.join('\n')}\n`
}
