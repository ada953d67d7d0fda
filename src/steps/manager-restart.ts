import path from 'node:path/posix'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import type {Target} from '../target/target.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts, wazuhPaths} from '../wazuh/manager.js'
import {applyRollback, planRollback} from '../wazuh/rollback.js'
import {stoppedDaemons, waitForManager} from './wazuh-install.js'

/**
 * Returns the path of the marker that records a configuration change the manager has not loaded yet. It
 * is written before the change, so a run killed between the change and the restart still
 * restarts the manager on the next run.
 */
export function restartMarkerPath(wazuhDir: string = DEFAULT_WAZUH_DIR): string {
  return path.join(wazuhPaths(wazuhDir).stateDir, 'restart-pending')
}

export async function markRestartPending(target: Target, wazuhDir: string, reason: string): Promise<void> {
  const marker = restartMarkerPath(wazuhDir)
  await target.mkdir(path.dirname(marker), {mode: 0o750, owner: 'root', group: 'wazuh'})
  await target.writeFile(marker, `${new Date().toISOString()} ${reason}\n`, {mode: 0o640, owner: 'root', group: 'wazuh'})
}

/** Fact set when an earlier step of this run plans a change the manager reads only at start. */
export const RESTART_PLANNED = 'wazuh.restartPlanned'

/**
 * Wraps a step that changes what the manager reads at start: a planned change is noted for
 * the restart step's dry-run plan, and the restart marker is written before the change.
 */
export function requiringRestart(step: Step, wazuhDir: string = DEFAULT_WAZUH_DIR): Step {
  return {
    ...step,
    async check(context) {
      const check = await step.check(context)
      if (check.status === 'change') context.facts.set(RESTART_PLANNED, true)
      return check
    },
    async apply(context, check) {
      await markRestartPending(context.target, wazuhDir, `${step.id}: ${check.reason}`)
      await step.apply(context, check)
    },
  }
}

export interface ManagerRestartOptions {
  wazuhDir?: string
  /** Milliseconds to wait for the manager and its API after a restart. */
  timeoutMs?: number
}

/**
 * Restarts the manager when a configuration change is pending (or starts it when it is not
 * running), then checks that its daemons and API come back. When they do not, the last
 * configuration apply is rolled back and the manager restarted on the old configuration, and
 * the step fails with the manager's own error.
 */
export function managerRestartStep(options: ManagerRestartOptions = {}): Step {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  const timeoutMs = options.timeoutMs ?? 180_000

  return {
    id: 'manager-restart',
    title: 'Wazuh manager restart',

    async check(context: StepContext): Promise<StepCheck> {
      const {target} = context
      const facts = await readManagerFacts(target, wazuhDir)
      if (!facts.installed) {
        return {status: 'change', reason: 'restart the manager once it is installed and configured', changes: [{kind: 'command', summary: 'restart the Wazuh manager', argv: [restartCommand(wazuhDir)]}]}
      }

      const marker = await target.stat(restartMarkerPath(wazuhDir))
      const status = await target.exec([wazuhPaths(wazuhDir).wazuhControl, 'status'], {allowExitCodes: 'any', timeoutMs: 30_000})
      const stopped = stoppedDaemons(status.stdout)
      if (marker || (context.dryRun && context.facts.get(RESTART_PLANNED))) {
        return {status: 'change', reason: 'the manager has not loaded the new configuration yet', changes: [{kind: 'command', summary: 'restart the Wazuh manager and wait for its daemons and API', argv: [restartCommand(wazuhDir)]}]}
      }

      if (stopped.length > 0) {
        return {status: 'change', reason: `the manager is not running (${stopped.join(', ')})`, changes: [{kind: 'command', summary: 'start the Wazuh manager and wait for its daemons and API', argv: [restartCommand(wazuhDir)]}]}
      }

      return {status: 'ok', reason: 'the manager runs with the current configuration', changes: []}
    },

    async apply(context: StepContext): Promise<void> {
      const {target} = context
      context.progress('restarting the Wazuh manager')
      const failure = await restartAndWait(target, wazuhDir, timeoutMs)
      if (!failure) {
        await target.remove(restartMarkerPath(wazuhDir))
        return
      }

      context.log.error(`the manager did not come back after the restart: ${failure}`)
      context.progress('the manager did not come back; restoring the previous configuration')
      const rollback = await planRollback(target, wazuhDir, context.redactor)
      const result = await applyRollback(target, wazuhDir, rollback, {force: true, log: context.log})
      // The restored configuration may predate the integration, and then integratord exits at start.
      const second = await restartAndWait(target, wazuhDir, timeoutMs, false)
      if (!second) await target.remove(restartMarkerPath(wazuhDir))

      const restored = [...result.restored, ...result.removed]
      throw new MispwazuhError(
        `The Wazuh manager did not start with the new configuration: ${failure}\n` +
          `mispwazuh restored the previous configuration (${restored.join(', ')}) and ${second ? `the manager still does not run: ${second}` : 'the manager runs on it again'}.`,
        {
          code: 'manager_restart_failed',
          exitCode: ExitCode.validationFailed,
          fix: `Read ${path.join(wazuhDir, 'logs', 'ossec.log')} on ${target.name} for the manager's error, fix its cause, and run setup again.`,
        },
      )
    },
  }
}

function restartCommand(wazuhDir: string): string[] {
  return [wazuhPaths(wazuhDir).wazuhControl, 'restart']
}

/**
 * Restarts through systemd when the host runs it (so the unit's state stays right), otherwise
 * with wazuh-control. Returns undefined when the manager came back, or what went wrong.
 */
async function restartAndWait(target: Target, wazuhDir: string, timeoutMs: number, withIntegration = true): Promise<string | undefined> {
  const systemd = await target.exec(['systemctl', 'cat', 'wazuh-manager'], {allowExitCodes: 'any', timeoutMs: 30_000})
  const argv = systemd.exitCode === 0 ? ['systemctl', 'restart', 'wazuh-manager'] : restartCommand(wazuhDir)
  const restart = await target.exec(argv, {allowExitCodes: 'any', timeoutMs: 300_000})
  if (restart.exitCode !== 0) {
    const log = await target.exec(['tail', '-n', '5', path.join(wazuhDir, 'logs', 'ossec.log')], {allowExitCodes: 'any'})
    const errors = log.stdout.split('\n').filter((line) => /ERROR|CRITICAL/.test(line))
    return `\`${argv.join(' ')}\` exited with status ${restart.exitCode}${errors.length > 0 ? `; ossec.log: ${errors.join(' | ')}` : ''}`
  }

  try {
    await waitForManager(target, wazuhDir, timeoutMs, withIntegration)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}
