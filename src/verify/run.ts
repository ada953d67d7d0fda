import {checkAgents} from './agent-hops.js'
import {runCanary, type CanaryOptions} from './canary.js'
import {VerifyFacts} from './facts.js'
import {checkIntegrationLogs} from './log-hops.js'
import {checkIntegrationBlock, checkIntegrationConfig, checkIntegrationScript, checkManager, type ManagerState} from './manager-hops.js'
import {checkMispFromManager} from './misp-from-manager.js'
import {checkFeeds, checkMispReachable, checkWarninglists, checkWazuhKey, type MispReach} from './misp-hops.js'
import {checkIntegrationRules, checkSysmonLevels} from './rule-hops.js'
import {runHop, type HopResult, type VerifyContext} from './types.js'

export interface VerifyOptions {
  /** Plant the canary and follow it; false runs only the hop checks. */
  canary: boolean
  canaryTimeoutSeconds: number
  pollMs?: number
}

export interface VerifyReport {
  target: string
  /** Every hop in order: the checks, then the canary hops when the canary ran. */
  hops: HopResult[]
  canaryRan: boolean
  passed: number
  failed: number
  skipped: number
  verdict: 'pass' | 'fail'
}

/**
 * Checks every hop of the chain in order, then sends the canary through it. Each hop reports
 * even when an earlier one failed, unless it needs that hop's result; then it is skipped with
 * the reason.
 */
export async function runVerify(context: VerifyContext, options: VerifyOptions): Promise<VerifyReport> {
  const facts = new VerifyFacts(context)
  const reach: MispReach = {reachable: false, version: undefined, admin: undefined, adminClient: undefined}
  const manager: ManagerState = {running: false}
  const hops: HopResult[] = []
  const hop = async (id: string, title: string, check: Parameters<typeof runHop>[3]) => {
    hops.push(await runHop(id, title, context, check))
  }

  await hop('misp.reachable', 'MISP reachable over verified TLS', () => checkMispReachable(context, facts, reach))
  await hop('misp.from-manager', 'MISP reachable from the manager as user wazuh', () => checkMispFromManager(context, facts))
  await hop('misp.wazuh-key', 'Wazuh auth key valid, dedicated and able to search', () => checkWazuhKey(facts, reach))
  await hop('misp.feeds', 'MISP feeds enabled, fetched and cached', () => checkFeeds(context, facts, reach))
  await hop('misp.warninglists', 'MISP warninglists enabled', () => checkWarninglists(reach))
  await hop('wazuh.manager', 'Wazuh manager running with a valid configuration', () => checkManager(context, facts, manager))
  await hop('wazuh.integration-block', 'Integration block in ossec.conf', () => checkIntegrationBlock(facts))
  await hop('wazuh.integration-script', 'Integration script installed and runnable', () => checkIntegrationScript(context, facts))
  await hop('wazuh.integration-config', 'Integration config file', () => checkIntegrationConfig(context, facts))
  await hop('wazuh.sysmon-rules', 'Sysmon base rules raised to reach alerts.json', () => checkSysmonLevels(facts))
  await hop('wazuh.misp-rules', 'misp.xml and self-test rules loaded, no duplicate IDs', () => checkIntegrationRules(facts))
  await hop('wazuh.integration-log', 'Recent integration errors', () => checkIntegrationLogs(context, facts))
  await hop('wazuh.agents', 'Agents and their Sysmon events', () => checkAgents(context, facts))

  if (options.canary) hops.push(...(await runCanary(context, facts, reach, manager, {timeoutSeconds: options.canaryTimeoutSeconds, pollMs: options.pollMs})))

  const failed = hops.filter((item) => item.status === 'fail').length
  return {
    target: context.target.name,
    hops,
    canaryRan: options.canary,
    passed: hops.filter((item) => item.status === 'pass').length,
    failed,
    skipped: hops.filter((item) => item.status === 'skip').length,
    verdict: failed === 0 ? 'pass' : 'fail',
  }
}
