import {MispwazuhError} from '../errors.js'
import type {Step, StepCheck, StepContext, StepResult} from './step.js'

export interface PlanRunOptions {
  steps: readonly Step[]
  context: Omit<StepContext, 'progress'>
  /** Check every step and stop before applying anything. */
  dryRun: boolean
  /** Receives every state change, for the progress view. */
  onEvent?: (event: PlanEvent) => void
  /** When aborted (Ctrl+C), the step that runs finishes and no later step starts. */
  signal?: AbortSignal
}

export type PlanEvent =
  | {type: 'start'; step: Step; index: number; total: number}
  | {type: 'progress'; step: Step; message: string}
  | {type: 'applying'; step: Step; check: StepCheck}
  | {type: 'finish'; step: Step; result: StepResult}

export interface PlanRunResult {
  dryRun: boolean
  steps: StepResult[]
  counts: Record<StepResult['status'], number>
  /** The step that failed, when one did; later steps did not run. */
  failed?: StepResult
  /** The run was interrupted between steps; later steps did not run. */
  interrupted?: boolean
}

/**
 * Runs steps in order: check, then (unless dry run) apply the difference and check again, so a
 * step that does not converge fails instead of reporting success. The first failure stops the
 * run; what earlier steps did stays done and a re-run resumes from their `ok`.
 *
 * In a dry run a step's check may depend on what an earlier step would change. Such steps put
 * what they plan into `context.facts`, so later checks can plan from it.
 */
export async function runPlan(options: PlanRunOptions): Promise<PlanRunResult> {
  const results: StepResult[] = []
  let failed: StepResult | undefined

  let interrupted = false
  for (const [index, step] of options.steps.entries()) {
    if (failed) {
      results.push({id: step.id, title: step.title, status: 'pending', reason: `not run: ${failed.title} failed`, changes: [], warnings: [], durationMs: 0})
      continue
    }

    if (options.signal?.aborted) {
      interrupted = true
      options.context.log.warn(`interrupted before step ${step.id}`)
      results.push({id: step.id, title: step.title, status: 'pending', reason: 'not run: interrupted', changes: [], warnings: [], durationMs: 0})
      continue
    }

    options.onEvent?.({type: 'start', step, index, total: options.steps.length})
    const context: StepContext = {...options.context, progress: (message) => options.onEvent?.({type: 'progress', step, message})}
    const result = await runStep(step, context, options)
    results.push(result)
    if (result.status === 'failed') failed = result
    options.onEvent?.({type: 'finish', step, result})
  }

  const counts = {ok: 0, changed: 0, skipped: 0, failed: 0, pending: 0}
  for (const result of results) counts[result.status]++
  return {dryRun: options.dryRun, steps: results, counts, ...(failed ? {failed} : {}), ...(interrupted ? {interrupted} : {})}
}

async function runStep(step: Step, context: StepContext, options: PlanRunOptions): Promise<StepResult> {
  const started = Date.now()
  const base = {id: step.id, title: step.title}
  context.log.info(`step ${step.id}: checking`)

  let check: StepCheck
  try {
    check = await step.check(context)
  } catch (error) {
    return failure(base, error, [], started, context)
  }

  context.log.info(`step ${step.id}: ${check.status}: ${check.reason}`)
  for (const warning of check.warnings ?? []) context.log.warn(`step ${step.id}: ${warning}`)
  const warnings = [...(check.warnings ?? [])]

  if (check.status === 'ok') return {...base, status: 'ok', reason: check.reason, changes: [], warnings, durationMs: Date.now() - started}
  if (check.status === 'skip') return {...base, status: 'skipped', reason: check.reason, changes: [], warnings, durationMs: Date.now() - started}
  if (options.dryRun) return {...base, status: 'pending', reason: check.reason, changes: check.changes, warnings, durationMs: Date.now() - started}

  options.onEvent?.({type: 'applying', step, check})
  try {
    for (const change of check.changes) context.log.info(`step ${step.id}: ${change.summary}${change.diff ? `\n${change.diff}` : ''}`)
    await step.apply(context, check)
    const after = await step.check(context)
    if (after.status === 'change') {
      throw new MispwazuhError(`${step.title} did not converge: after applying, it still reports "${after.reason}".`, {
        code: 'step_not_converged',
        fix: 'Read the run log for what was applied; this is likely a bug in mispwazuh.',
      })
    }

    warnings.push(...(after.warnings ?? []).filter((warning) => !warnings.includes(warning)))
  } catch (error) {
    return failure(base, error, check.changes, started, context)
  }

  context.log.info(`step ${step.id}: changed`)
  return {...base, status: 'changed', reason: check.reason, changes: check.changes, warnings, durationMs: Date.now() - started}
}

function failure(base: {id: string; title: string}, error: unknown, changes: StepResult['changes'], started: number, context: StepContext): StepResult {
  const known = error instanceof MispwazuhError
  const message = error instanceof Error ? error.message : String(error)
  context.log.error(`step ${base.id} failed: ${known ? message : (error as Error)?.stack ?? message}`)
  return {
    ...base,
    status: 'failed',
    reason: message,
    changes,
    warnings: [],
    durationMs: Date.now() - started,
    error: {code: known ? error.code : 'internal_error', message, exitCode: known ? error.exitCode : 1, ...(known && error.fix ? {fix: error.fix} : {})},
  }
}
