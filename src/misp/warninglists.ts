import type {Step, StepCheck, StepContext} from '../plan/step.js'
import type {MispClient, MispWarninglist} from './client.js'
import type {MispRunState} from './run-state.js'

/**
 * Returns the step that enables every MISP warninglist. MISP adds new warninglists disabled, and restSearch's
 * `enforceWarninglist` and warninglists/checkValue only use enabled ones.
 */
export function mispWarninglistsStep(state: MispRunState): Step {
  return {
    id: 'misp.warninglists',
    title: 'MISP warninglists enabled',

    async check(context: StepContext): Promise<StepCheck> {
      const client = await state.adminClient(context)
      const lists = client ? await listIfUp(client) : undefined
      if (lists === undefined) return {status: 'change', reason: 'MISP is not running yet', changes: [{kind: 'command', summary: 'enable every warninglist (POST /warninglists/toggleEnable)'}]}

      if (lists.length === 0) {
        return {status: 'change', reason: 'MISP has no warninglists loaded', changes: [{kind: 'command', summary: 'load MISP\'s warninglists (POST /warninglists/update), then enable them all'}]}
      }

      const disabled = lists.filter((list) => !list.enabled)
      if (disabled.length === 0) return {status: 'ok', reason: `all ${lists.length} warninglists are enabled`, changes: []}
      return {status: 'change', reason: `${disabled.length} of ${lists.length} warninglists are disabled`, changes: [{kind: 'command', summary: `enable ${disabled.length} warninglists (POST /warninglists/toggleEnable)`}]}
    },

    async apply(context: StepContext): Promise<void> {
      const client = await state.requireAdminClient(context)
      let lists = await client.listWarninglists()
      if (lists.length === 0) {
        context.progress('loading MISP\'s warninglists')
        await client.updateWarninglists()
        lists = await client.listWarninglists()
      }

      const disabled = lists.filter((list) => !list.enabled)
      if (disabled.length === 0) return

      context.progress(`enabling ${disabled.length} warninglists`)
      const result = await client.enableWarninglists(disabled.map((list) => list.id))
      context.log.info(`warninglists/toggleEnable: ${String(result.success ?? result.message ?? '')}`)
    },
  }
}

async function listIfUp(client: MispClient): Promise<MispWarninglist[] | undefined> {
  try {
    return await client.listWarninglists()
  } catch {
    return undefined
  }
}
