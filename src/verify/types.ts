import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'

export type HopStatus = 'pass' | 'fail' | 'skip'

/** The outcome of one hop of the chain, as printed and as returned by `--json`. */
export interface HopResult {
  /** Stable identifier, e.g. `misp.wazuh-key`. */
  id: string
  title: string
  status: HopStatus
  /** Summary of the check and its finding, in one or two sentences. */
  found: string
  /** Fix for a failed hop. */
  fix?: string
  /** Findings that do not fail the hop but that a person should read. */
  notes: string[]
  /** For the canary hops: how far the canary got, stage by stage. */
  stages?: CanaryStage[]
  durationMs: number
}

/** One stage of a canary's journey, e.g. "self-test alert in alerts.json". */
export interface CanaryStage {
  name: string
  reached: boolean
  detail: string
}

/** Context every hop receives. */
export interface VerifyContext {
  /** The Wazuh manager host. */
  target: Target
  /** The host with setup's MISP files (credentials, keys, CA, refresh log): the MISP host given with --misp-host, else the manager host. */
  mispTarget: Target
  log: RunLog
  redactor: Redactor
  progress: (message: string) => void
  wazuhDir: string
}

/** A hop's own verdict before timing is added. */
export type HopOutcome = Omit<HopResult, 'id' | 'title' | 'durationMs' | 'notes'> & {notes?: string[]}

export function pass(found: string, notes: string[] = []): HopOutcome {
  return {status: 'pass', found, notes}
}

export function fail(found: string, fix: string, notes: string[] = []): HopOutcome {
  return {status: 'fail', found, fix, notes}
}

export function skip(found: string): HopOutcome {
  return {status: 'skip', found}
}

/** Runs one hop, turning an unexpected exception into a failed hop, and times it. */
export async function runHop(id: string, title: string, context: VerifyContext, check: () => Promise<HopOutcome>): Promise<HopResult> {
  context.progress(`${id}: ${title}`)
  const started = Date.now()
  let outcome: HopOutcome
  try {
    outcome = await check()
  } catch (error) {
    context.log.error(`hop ${id} raised: ${(error as Error).stack ?? String(error)}`)
    const fix = (error as {fix?: string}).fix ?? 'Read the run log for the full error.'
    outcome = fail(`The check itself failed: ${(error as Error).message}`, fix)
  }

  const result: HopResult = {id, title, status: outcome.status, found: outcome.found, notes: outcome.notes ?? [], durationMs: Date.now() - started}
  if (outcome.fix !== undefined) result.fix = outcome.fix
  if (outcome.stages !== undefined) result.stages = outcome.stages
  context.log.info(`hop ${id}: ${result.status}: ${result.found}${result.fix ? ` | fix: ${result.fix}` : ''}`)
  return result
}

export function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`
}
