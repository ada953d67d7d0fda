import {MispwazuhError, ExitCode} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {MispAuthError, MispConnectionError, MispHtmlResponseError, MispServerError, type MispClient} from './client.js'
import type {MispRunState} from './run-state.js'

export interface StartOptions {
  /** Milliseconds between two readiness probes. Default 5 s. */
  pollIntervalMs?: number
}

/**
 * Returns the step that starts misp-docker and waits until MISP really responds: `GET /servers/getVersion` with the
 * admin key. Docker's "healthy" is no proof, because misp-core's health check also passes on
 * the 503 "MISP is loading" page, and the admin key exists only after misp-docker's init_user ran.
 */
export function mispStartStep(state: MispRunState, startOptions: StartOptions = {}): Step {
  const {options} = state
  const dir = options.installDir
  const pull = ['docker', 'compose', 'pull', '--quiet']
  const up = ['docker', 'compose', 'up', '-d', '--no-build']

  return {
    id: 'misp.start',
    title: 'Start MISP and wait until it responds',

    async check(context: StepContext): Promise<StepCheck> {
      const client = await state.adminClient(context, {retries: 0, connectTimeoutMs: 5000})
      const version = client ? await probe(client) : undefined

      if (version !== undefined && !state.restartNeeded) return {status: 'ok', reason: `MISP ${version} responds at ${state.url}`, changes: []}

      const recreate = version !== undefined ? [...up, '--force-recreate'] : up
      return {
        status: 'change',
        reason: version === undefined ? `MISP does not respond at ${state.url} yet` : 'settings or certificate changed since MISP started',
        changes: [{kind: 'command', summary: `in ${dir}: pull images, start the containers, wait up to ${Math.round(options.startTimeoutSeconds / 60)} min for MISP`, argv: [pull, recreate]}],
      }
    },

    async apply(context: StepContext, check: StepCheck): Promise<void> {
      const {target} = context
      const running = check.changes[0]?.argv?.[1]?.includes('--force-recreate') === true

      context.progress('pulling images (docker compose pull)')
      await target.exec(pull, {cwd: dir, timeoutMs: 3_600_000, onLine: (line) => context.progress(line)})
      context.progress('starting containers (docker compose up -d)')
      await target.exec(running ? [...up, '--force-recreate'] : up, {cwd: dir, timeoutMs: 1_800_000})

      try {
        await waitForMisp(context, state, options.startTimeoutSeconds * 1000, startOptions.pollIntervalMs ?? 5000)
      } catch (error) {
        const tail = await containerLogTail(context, dir)
        if (error instanceof MispwazuhError) {
          throw new MispwazuhError(`${error.message}\nLast lines of the misp-core container log:\n${tail}`, {code: error.code, exitCode: error.exitCode, fix: error.fix, cause: error})
        }

        throw error
      }

      state.restartNeeded = false
    },
  }
}

async function probe(client: MispClient): Promise<string | undefined> {
  try {
    return (await client.getVersion()).version
  } catch {
    return undefined
  }
}

/** Polls getVersion until it succeeds; only connection errors, 5xx, HTML pages and a not yet accepted key count as "still starting". */
export async function waitForMisp(context: StepContext, state: MispRunState, timeoutMs: number, pollIntervalMs: number): Promise<string> {
  const started = Date.now()
  let lastProblem = 'no response yet'

  for (;;) {
    const client = await state.adminClient(context, {retries: 0, connectTimeoutMs: 5000})
    if (!client) await state.requireAdminClient(context)
    try {
      const version = (await client!.getVersion()).version
      context.log.info(`MISP ${version} responds at ${state.url} after ${Math.round((Date.now() - started) / 1000)} s`)
      return version
    } catch (error) {
      const stillStarting = error instanceof MispConnectionError || error instanceof MispServerError || error instanceof MispHtmlResponseError || error instanceof MispAuthError
      if (!stillStarting) throw error
      lastProblem = (error as Error).message
    }

    const elapsed = Date.now() - started
    if (elapsed >= timeoutMs) {
      throw new MispwazuhError(`MISP did not respond at ${state.url} within ${Math.round(timeoutMs / 1000)} s. Last problem: ${lastProblem}`, {
        code: 'misp_start_timeout',
        exitCode: ExitCode.mispFailed,
        fix: `Run \`docker compose logs misp-core\` in ${state.options.installDir} on the host; the first start can take over 20 minutes on a slow host, so running setup again continues waiting.`,
      })
    }

    context.progress(`waiting for MISP (${Math.round(elapsed / 1000)} s): ${shorten(lastProblem)}`)
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs))
  }
}

async function containerLogTail(context: StepContext, dir: string): Promise<string> {
  try {
    const result = await context.target.exec(['docker', 'compose', 'logs', '--no-color', '--tail', '40', 'misp-core'], {cwd: dir, allowExitCodes: 'any', timeoutMs: 60_000})
    return context.redactor.redact((result.stdout + result.stderr).trimEnd()) || '(empty)'
  } catch (error) {
    return `(could not read the container log: ${(error as Error).message})`
  }
}

function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}
