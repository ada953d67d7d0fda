import type {VerifyReport} from './run.js'
import type {HopStatus} from './types.js'

const LABEL: Record<HopStatus, string> = {pass: 'pass', fail: 'FAIL', skip: 'skip'}

/** Renders the report for a terminal: one block per hop, then the verdict line. */
export function renderVerifyReport(report: VerifyReport): string {
  const lines = [`Verify ${report.target}`, '']
  for (const hop of report.hops) {
    lines.push(`  ${LABEL[hop.status].padEnd(4)}  ${hop.id.padEnd(24)}  ${hop.title}`)
    lines.push(`        ${hop.found}`)
    if (hop.stages && hop.status !== 'skip') {
      for (const stage of hop.stages) lines.push(`          ${stage.reached ? '[x]' : '[ ]'} ${stage.name}: ${stage.detail}`)
    }

    for (const note of hop.notes) lines.push(`        note: ${note}`)
    if (hop.fix && hop.status === 'fail') lines.push(`        fix: ${hop.fix}`)
  }

  lines.push('')
  if (!report.canaryRan) lines.push('The canary did not run (--no-canary): the hops were checked, but no IoC travelled the chain.')
  const counts = `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`
  const canaryHops = report.hops.filter((hop) => hop.id === 'canary.selftest' || hop.id === 'canary.sysmon')
  const canaryTravelled = canaryHops.length > 0 && canaryHops.every((hop) => hop.status === 'pass')
  if (report.verdict === 'pass') {
    let outcome = 'Every hop checked passes, but no canary travelled the chain (see the skipped hops).'
    if (canaryTravelled) outcome = 'A canary IoC went from MISP through the manager and the integration into alerts.json.'
    else if (!report.canaryRan) outcome = 'Every hop checked passes.'
    lines.push(`Verdict: PASS (${counts}). ${outcome}`)
  } else {
    const first = report.hops.find((hop) => hop.status === 'fail')
    lines.push(`Verdict: FAIL (${counts}). Fix ${first?.id} first; later hops may depend on it.`)
  }

  return lines.join('\n')
}
