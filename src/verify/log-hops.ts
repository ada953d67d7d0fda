import path from 'node:path/posix'

import {INTEGRATION_NAME} from '../wazuh/integration-groups.js'
import type {VerifyFacts} from './facts.js'
import {fail, pass, type HopOutcome, type VerifyContext} from './types.js'

/** Lines read from the end of each log; older lines are not summarised. */
const TAIL_LINES = 5000

/** One kind of error, counted. */
export interface ErrorSummary {
  source: 'ossec.log' | 'integrations.log'
  kind: string
  count: number
  last: string
  example: string
  fix: string
}

// Wazuh and the integration both start lines with the host's local time, "YYYY/MM/DD HH:MM:SS".
const STAMP = /^(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}) /

interface Classified {
  kind: string
  fix: string
}

/** Classifies an integratord error line in ossec.log about the integration. */
export function classifyIntegratordLine(line: string, script: string): Classified | undefined {
  if (/has write permissions/.test(line)) return {kind: 'script writable by wazuh', fix: `chown root:wazuh ${script} && chmod 0750 ${script}`}
  if (/Couldn't execute command/.test(line)) return {kind: 'script could not be executed', fix: `Check the #! line and line endings of ${script} (LF only) and that its interpreter exists.`}
  if (/File not found inside 'integrations'/.test(line)) return {kind: 'script missing', fix: 'Run `mispwazuh setup` again to install the script.'}
  if (/Unable to run integration|While running|Exit status was/.test(line)) return {kind: 'script exited non-zero', fix: 'Read the "Output:" line in ossec.log; run `mispwazuh setup` again to reinstall the script.'}
  if (/Invalid integration/.test(line)) return {kind: 'integration name rejected', fix: `Name the integration ${INTEGRATION_NAME} in ossec.conf.`}
  if (/\b(?:ERROR|CRITICAL)\b/.test(line)) return {kind: 'integratord error', fix: 'Read the line in ossec.log.'}
  return undefined
}

/** Classifies an ERROR line the integration wrote to integrations.log. */
export function classifyIntegrationLine(line: string): Classified | undefined {
  if (!/custom-misp: ERROR:/.test(line)) return undefined
  const reason = /MISP lookup failed: reason=(\w+)/.exec(line)?.[1]
  if (reason) {
    const fixes: Record<string, string> = {
      connection_failed: 'Check that MISP runs and that the manager reaches misp_url (see misp.from-manager).',
      timeout: 'MISP responds too slowly; check its load, or raise total_timeout in the integration config.',
      tls_verify_failed: 'Put MISP\'s CA certificate into the integration\'s ca_file (see misp.from-manager).',
      auth_failed: 'The Wazuh key was rejected; run `mispwazuh setup` again to create a new one (see misp.wazuh-key).',
      forbidden: 'The Wazuh user may not search attributes; check its role (see misp.wazuh-key).',
      rate_limited: 'Raise the rate limit of the Wazuh user\'s role in MISP.',
      server_error: 'Read MISP\'s error log (app/tmp/logs/error.log).',
    }
    return {kind: `MISP lookup failed (${reason})`, fix: fixes[reason] ?? 'Read the line in integrations.log.'}
  }

  if (/no lookup done/.test(line)) return {kind: 'config file unusable', fix: 'Check the integration config file (see wazuh.integration-config).'}
  if (/internal error/.test(line)) return {kind: 'internal error in the script', fix: 'Report the line; run `mispwazuh setup` again to reinstall the script.'}
  if (/queue socket/.test(line)) return {kind: 'results not delivered to the manager', fix: 'Check that the manager runs (queue/sockets/queue).'}
  return {kind: 'integration error', fix: 'Read the line in integrations.log.'}
}

/**
 * Counts the integration's errors by kind: integratord's lines in ossec.log and the
 * integration's ERROR lines in integrations.log, since integratord last enabled the integration
 * (its last start) and within the last 24 hours.
 */
export async function checkIntegrationLogs(context: VerifyContext, facts: VerifyFacts): Promise<HopOutcome> {
  const logs = path.join(facts.wazuhDir, 'logs')
  const script = path.join(facts.wazuhDir, 'integrations', INTEGRATION_NAME)
  const dayAgo = await context.target.exec(['date', '-d', '24 hours ago', '+%Y/%m/%d %H:%M:%S'], {allowExitCodes: 'any'})
  let since = dayAgo.exitCode === 0 ? dayAgo.stdout.trim() : '0000/00/00 00:00:00'

  const ossecLines = await tail(context, path.join(logs, 'ossec.log'))
  const enabled = ossecLines.filter((line) => line.includes(`Enabling integration for: '${INTEGRATION_NAME}'`)).at(-1)
  const enabledAt = enabled ? STAMP.exec(enabled)?.[1] : undefined
  if (enabledAt && enabledAt > since) since = enabledAt

  const summaries = new Map<string, ErrorSummary>()
  const add = (source: ErrorSummary['source'], line: string, classified: Classified | undefined) => {
    if (!classified) return
    const stamp = STAMP.exec(line)?.[1] ?? ''
    if (stamp < since) return
    const key = `${source}\u0000${classified.kind}`
    const entry = summaries.get(key) ?? {source, kind: classified.kind, count: 0, last: stamp, example: line.replace(STAMP, '').slice(0, 240), fix: classified.fix}
    entry.count += 1
    entry.last = stamp
    entry.example = line.replace(STAMP, '').slice(0, 240)
    summaries.set(key, entry)
  }

  for (const line of ossecLines) {
    if (!/wazuh-integratord/.test(line) || !/\b(?:ERROR|CRITICAL)\b/.test(line)) continue
    add('ossec.log', line, classifyIntegratordLine(line, script))
  }

  for (const line of await tail(context, path.join(logs, 'integrations.log'))) add('integrations.log', line, classifyIntegrationLine(line))

  const window = `since ${since}${enabledAt && since === enabledAt ? ' (integratord\'s last start)' : ''}`
  if (summaries.size === 0) return pass(`No integration errors in ossec.log or integrations.log ${window}.`)

  const list = [...summaries.values()].sort((a, b) => b.last.localeCompare(a.last))
  const found = list.map((entry) => `${entry.count} × ${entry.kind} in ${entry.source} (last ${entry.last}: ${entry.example})`).join('; ')
  return fail(`Integration errors ${window}: ${found}.`, [...new Set(list.map((entry) => entry.fix))].join(' '))
}

async function tail(context: VerifyContext, file: string): Promise<string[]> {
  if (!(await context.target.exists(file))) return []
  const result = await context.target.exec(['tail', '-n', String(TAIL_LINES), file], {allowExitCodes: 'any', timeoutMs: 60_000})
  return result.stdout.split('\n').filter((line) => line.trim() !== '')
}
