import type {PlanEvent} from '../plan/runner.js'
import type {Step, StepResult} from '../plan/step.js'
import type {Redactor} from './redact.js'

/** Shows a plan run on stderr: a listr2 tree on a terminal, plain lines otherwise, nothing in JSON mode. */
export interface Progress {
  onEvent(event: PlanEvent): void
  /** Waits until the view has drawn its last state. */
  finish(): Promise<void>
}

const STATUS_WORD: Record<StepResult['status'], string> = {ok: 'ok', changed: 'changed', skipped: 'skipped', failed: 'FAILED', pending: 'pending'}

export async function createProgress(steps: readonly Step[], options: {mode: 'tree' | 'plain' | 'silent'; redactor: Redactor; stream?: NodeJS.WriteStream}): Promise<Progress> {
  const stream = options.stream ?? process.stderr
  if (options.mode === 'silent') return {onEvent() {}, async finish() {}}
  if (options.mode === 'plain') return plainProgress(stream, options.redactor)
  return treeProgress(steps, stream, options.redactor)
}

function plainProgress(stream: NodeJS.WriteStream, redactor: Redactor): Progress {
  const write = (line: string) => stream.write(`${redactor.redact(line)}\n`)
  let total = 0
  let position = 0
  return {
    onEvent(event) {
      switch (event.type) {
        case 'start': {
          total = event.total
          position = event.index + 1
          write(`[${position}/${total}] ${event.step.title}...`)
          break
        }

        case 'progress': {
          write(`      ${event.message}`)
          break
        }

        case 'applying': {
          for (const change of event.check.changes) write(`      ${change.summary}`)
          break
        }

        case 'finish': {
          write(`[${position}/${total}] ${event.step.title}: ${STATUS_WORD[event.result.status]} (${event.result.reason})`)
          for (const warning of event.result.warnings) write(`      warning: ${warning}`)
          break
        }
      }
    },
    async finish() {},
  }
}

interface Deferred {
  promise: Promise<StepResult>
  resolve: (result: StepResult) => void
}

/** Creates a listr2 tree. listr2 drives its own tasks, so each task waits for the runner's finish event of its step. */
async function treeProgress(steps: readonly Step[], stream: NodeJS.WriteStream, redactor: Redactor): Promise<Progress> {
  const {Listr, ListrLogger, ProcessOutput} = await import('listr2')
  const deferred = new Map<string, Deferred>()
  const outputs = new Map<string, (text: string) => void>()
  for (const step of steps) {
    let resolve!: (result: StepResult) => void
    const promise = new Promise<StepResult>((done) => {
      resolve = done
    })
    deferred.set(step.id, {promise, resolve})
  }

  const listr = new Listr(
    steps.map((step) => ({
      title: step.title,
      task: async (_context: unknown, task: {title: string; output: string; skip: (message: string) => void}) => {
        outputs.set(step.id, (text) => {
          task.output = redactor.redact(text)
        })
        const result = await deferred.get(step.id)!.promise
        task.title = `${step.title}: ${STATUS_WORD[result.status]} (${redactor.redact(result.reason)})`
        if (result.status === 'skipped') task.skip(task.title)
        if (result.status === 'failed') throw new Error(task.title)
      },
    })),
    {
      concurrent: false,
      exitOnError: true,
      rendererOptions: {collapseSubtasks: false, logger: new ListrLogger({processOutput: new ProcessOutput(stream, stream)})},
    },
  )
  const running = listr.run().catch(() => {})

  return {
    onEvent(event) {
      if (event.type === 'progress') outputs.get(event.step.id)?.(event.message)
      if (event.type === 'applying') outputs.get(event.step.id)?.(event.check.changes.map((change) => change.summary).join('\n'))
      if (event.type === 'finish') deferred.get(event.step.id)?.resolve(event.result)
    },
    async finish() {
      // Steps that never ran (after a failure) still need their tasks released.
      for (const [id, entry] of deferred) entry.resolve({id, title: id, status: 'pending', reason: 'not run', changes: [], warnings: [], durationMs: 0})
      await running
    },
  }
}
