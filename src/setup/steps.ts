import type {MispOptionsInput} from '../misp/options.js'
import {mispSteps} from '../misp/steps.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {integrationInstallStep} from '../steps/integration-install.js'
import {managerRestartStep, requiringRestart} from '../steps/manager-restart.js'
import {preflightStep, type PreflightOptions} from '../steps/preflight.js'
import {wazuhInstallStep, type WazuhInstallOptions} from '../steps/wazuh-install.js'
import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import {wazuhConfigStep} from '../wazuh/config-step.js'
import {DEFAULT_WAZUH_DIR} from '../wazuh/manager.js'

export interface SetupPlanOptions {
  preflight: PreflightOptions
  /** Undefined with --skip-misp. */
  misp: MispOptionsInput | undefined
  /** The host MISP runs on when it is not the Wazuh host (--misp-host). */
  mispTarget?: Target
  /** Undefined with --skip-wazuh-install. */
  wazuhInstall: WazuhInstallOptions | undefined
  ruleIdBase: number
  verifyTls: boolean
  redactor: Redactor
  wazuhDir?: string
}

/**
 * Returns the ordered steps of `setup`: preflight, the MISP part (Docker, misp-docker, TLS, start,
 * feeds, warninglists, the Wazuh user and key, the refresh job, the credentials file), the
 * Wazuh install, the integration, the Wazuh configuration and the manager restart.
 */
export function setupSteps(options: SetupPlanOptions): Step[] {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  const steps: Step[] = [preflightStep(options.preflight)]

  if (options.misp) {
    const misp = mispSteps(options.misp, {redactor: options.redactor})
    steps.push(...(options.mispTarget ? misp.map((step) => onTarget(step, options.mispTarget!)) : misp))
  }

  if (options.wazuhInstall) steps.push(wazuhInstallStep({...options.wazuhInstall, wazuhDir}))
  steps.push(integrationInstallStep({wazuhDir, verifyTls: options.verifyTls, ...(options.mispTarget ? {mispTarget: options.mispTarget} : {})}))
  steps.push(requiringRestart(wazuhConfigStep({wazuhDir, ruleIdBase: options.ruleIdBase, redactor: options.redactor, command: 'setup'}), wazuhDir))
  steps.push(managerRestartStep({wazuhDir}))
  return steps
}

/** Runs a step against another host: the MISP host when it is not the Wazuh host. */
export function onTarget(step: Step, target: Target): Step {
  const retarget = (context: StepContext): StepContext => ({...context, target})
  return {
    id: step.id,
    title: `${step.title} (on ${target.name})`,
    check: (context): Promise<StepCheck> => step.check(retarget(context)),
    apply: (context, check) => step.apply(retarget(context), check),
  }
}
