import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import type {Target} from '../target/target.js'

/**
 * One planned change: a file to write (with a unified diff) or a command to run.
 * `apply` performs exactly this change; steps never write outside their changes.
 */
export interface Change {
  kind: 'file' | 'command' | 'remove'
  /** One line a person reads in the plan, e.g. "write /var/ossec/etc/ossec.conf". */
  summary: string
  path?: string
  /** Unified diff for file changes, with secrets already redacted. */
  diff?: string
  /** Commands this change will run, for the plan. */
  argv?: string[][]
}

/** The finding of a step's check: `ok` when nothing needs doing, `change` when `changes` are pending, `skip` when the step does not apply. */
export interface StepCheck {
  status: 'ok' | 'change' | 'skip'
  /** Why: "already installed (Docker 27.3.1)", "ossec.conf has no custom-misp integration". */
  reason: string
  changes: Change[]
  /** Warnings to show even when nothing changes. */
  warnings?: string[]
}

export type StepStatus = 'ok' | 'changed' | 'skipped' | 'failed' | 'pending'

export interface StepResult {
  id: string
  title: string
  status: StepStatus
  reason: string
  changes: Change[]
  warnings: string[]
  durationMs: number
  error?: {code: string; message: string; exitCode: number; fix?: string}
}

/** The context every step receives. `facts` carries values from one step to later ones (for example the MISP URL). */
export interface StepContext {
  target: Target
  log: RunLog
  redactor: Redactor
  dryRun: boolean
  facts: Map<string, unknown>
  /** Reports progress inside a long step (a line in the progress view). */
  progress: (message: string) => void
}

/**
 * The unit of provisioning: facts in, difference out, then apply only the difference and check it.
 * `check` must not change the target. `apply` receives the check it acts on and must leave the
 * target so that the next `check` returns `ok`.
 */
export interface Step {
  id: string
  title: string
  check(context: StepContext): Promise<StepCheck>
  apply(context: StepContext, check: StepCheck): Promise<void>
}
