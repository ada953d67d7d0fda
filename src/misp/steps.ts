import type {Step, StepCheck, StepContext} from '../plan/step.js'
import type {Redactor} from '../ui/redact.js'
import {dockerEngineStep} from './docker-engine.js'
import {mispExistingTrustStep} from './existing.js'
import {mispFeedsStep} from './feeds.js'
import {mispAdminKeyFileStep, mispCredentialsStep, mispRefreshJobStep} from './files.js'
import {mispDockerEnvStep, mispDockerSourceStep} from './misp-docker.js'
import {adminEmailOf, mispPaths, withDefaults, wazuhUserEmailOf, type MispOptions, type MispOptionsInput} from './options.js'
import {MispRunState} from './run-state.js'
import {mispStartStep, type StartOptions} from './start.js'
import {mispTlsStep} from './tls.js'
import {mispWarninglistsStep} from './warninglists.js'
import {mispWazuhUserStep} from './wazuh-user.js'

export interface MispStepsOptions extends StartOptions {
  /** Registers the existing MISP's admin key before any step runs. */
  redactor?: Redactor
}

/**
 * Returns the MISP steps in the order setup runs them.
 *
 * Installing (no `existingUrl`): misp.docker-engine, misp.misp-docker, misp.tls, misp.env,
 * misp.admin-key-file, misp.start, misp.feeds, misp.warninglists, misp.wazuh-user,
 * misp.refresh-job, misp.credentials.
 * Existing MISP: misp.trust, misp.admin-key-file, then the same from misp.feeds on.
 *
 * Every step's check puts the MispFacts values (URL, CA file, key files, credentials file,
 * emails) into `context.facts`, so later steps of other parts can use them even in a dry run.
 */
export function mispSteps(input: MispOptionsInput | MispOptions, extra: MispStepsOptions = {}): Step[] {
  const options = withDefaults(input)
  const state = new MispRunState(options, mispPaths(options))
  if (options.mode === 'existing') extra.redactor?.register(options.existingAdminKey, 'misp-admin-key')

  const install = options.mode === 'install'
    ? [dockerEngineStep({repositoryUrl: options.dockerRepositoryUrl}), mispDockerSourceStep(state), mispTlsStep(state), mispDockerEnvStep(state), mispAdminKeyFileStep(state), mispStartStep(state, extra)]
    : [mispExistingTrustStep(state), mispAdminKeyFileStep(state)]

  const steps = [...install, mispFeedsStep(state), mispWarninglistsStep(state), mispWazuhUserStep(state), mispRefreshJobStep(state), mispCredentialsStep(state)]
  return steps.map((step) => withFacts(step, state))
}

/** Wraps a step so that its check also publishes the MISP facts. */
function withFacts(step: Step, state: MispRunState): Step {
  return {
    id: step.id,
    title: step.title,
    async check(context: StepContext): Promise<StepCheck> {
      state.publishFacts(context, state.envValues?.get('ADMIN_EMAIL') ?? adminEmailOf(state.options), wazuhUserEmailOf(state.options))
      return step.check(context)
    },
    apply: (context, check) => step.apply(context, check),
  }
}

export {MispFacts} from './run-state.js'
