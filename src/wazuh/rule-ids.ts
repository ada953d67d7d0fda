import {ExitCode, MispwazuhError} from '../errors.js'
import type {RuleDefinition} from './rules.js'

/** Custom rules belong in 100000-120000 (Wazuh documentation, "Custom rules"). */
export const CUSTOM_RULE_ID_MIN = 100_000
export const CUSTOM_RULE_ID_MAX = 120_000

/** IDs mispwazuh reserves from the base; the rules below use some of them and leave room for more. */
export const RULE_ID_BLOCK = 40

/** The rule IDs mispwazuh writes, all derived from one base setting. */
export interface MispwazuhRuleIds {
  base: number
  /** local_rules.xml: the self-test event. */
  selftest: number
  /** local_rules.xml: a PowerShell network connection (level 2, child of Sysmon event 3). */
  powershellConnection: number
  /** local_rules.xml: 5 PowerShell connections to one destination within 60 s (level 13). */
  powershellBurst: number
  /** misp.xml: every result the integration sends (level 0). */
  result: number
  /** misp.xml: the integration reports an error (level 5). */
  error: number
  /** misp.xml: an error that stops every lookup until fixed: authentication or TLS (level 7). */
  setupError: number
  /** misp.xml: an IoC of the alert is known to MISP (level 12). */
  iocFound: number
  /** misp.xml: the IoC found is the self-test canary (alert level, not 12). */
  selftestFound: number
  /** misp.xml: the IoC found is a verify canary domain seen through another rule, such as the Sysmon canary (alert level, not 12). */
  canaryFound: number
}

export function ruleIdsFrom(base: number): MispwazuhRuleIds {
  return {
    base,
    selftest: base,
    powershellConnection: base + 1,
    powershellBurst: base + 2,
    result: base + 10,
    error: base + 11,
    setupError: base + 12,
    iocFound: base + 13,
    selftestFound: base + 14,
    canaryFound: base + 15,
  }
}

export function allRuleIds(ids: MispwazuhRuleIds): number[] {
  return [ids.selftest, ids.powershellConnection, ids.powershellBurst, ids.result, ids.error, ids.setupError, ids.iocFound, ids.selftestFound, ids.canaryFound]
}

/**
 * Rules the public MISP-Wazuh guide has people add by hand: 100502/100503 (PowerShell network
 * connections) and 100620-100622 (MISP results). A rule with one of these IDs is taken over only
 * when its text names what the guide's rule is about, so an unrelated rule that happens to use
 * the same ID is left alone.
 */
export const GUIDE_RULES: ReadonlyArray<{id: number; topic: RegExp}> = [
  {id: 100_502, topic: /powershell/i},
  {id: 100_503, topic: /powershell/i},
  {id: 100_620, topic: /misp/i},
  {id: 100_621, topic: /misp/i},
  {id: 100_622, topic: /misp/i},
]

export class RuleIdCollisionError extends MispwazuhError {
  readonly collisions: RuleDefinition[]

  constructor(collisions: RuleDefinition[], base: number, freeBase: number | undefined) {
    const lines = collisions.map((rule) => `  rule ${rule.id} in ${rule.file} line ${rule.line}`)
    super(
      `Rule IDs that mispwazuh needs (base ${base}) are already used by rules mispwazuh did not write:\n${lines.join('\n')}\nWazuh keeps only the first rule with an ID and silently drops the others, so mispwazuh does not write over them.`,
      {
        code: 'wazuh_rule_id_collision',
        exitCode: ExitCode.validationFailed,
        fix: freeBase === undefined
          ? 'Free a range of 40 rule IDs in 100000-120000 and set --rule-id-base to its start.'
          : `Run again with --rule-id-base ${freeBase} (the first free range), or with --renumber-rule-ids to use it automatically.`,
      },
    )
    this.name = 'RuleIdCollisionError'
    this.collisions = collisions
  }
}

/** Returns the rules that already use one of the IDs of `base`. */
export function collisionsFor(base: number, foreign: ReadonlyMap<number, RuleDefinition>): RuleDefinition[] {
  return allRuleIds(ruleIdsFrom(base)).flatMap((id) => {
    const rule = foreign.get(id)
    return rule ? [rule] : []
  })
}

/** Returns the first base at or after `start`, in steps of 10, whose IDs no foreign rule uses. */
export function findFreeBase(start: number, foreign: ReadonlyMap<number, RuleDefinition>): number | undefined {
  for (let base = start; base + RULE_ID_BLOCK <= CUSTOM_RULE_ID_MAX; base += 10) {
    if (collisionsFor(base, foreign).length === 0) return base
  }

  for (let base = CUSTOM_RULE_ID_MIN; base < start; base += 10) {
    if (collisionsFor(base, foreign).length === 0) return base
  }

  return undefined
}
