/**
 * The alerts the custom-misp integration handles, named as the Wazuh 4.x stock ruleset names
 * them. Group names are matched exactly by wazuh-integratord, and the stock names are not
 * uniform: Sysmon events 1-9 have no underscore before the number (`sysmon_event1`), events 10
 * and up have one (`sysmon_event_22`).
 */
export interface SysmonEvent {
  eventId: number
  /** The stock base rule in 0595-win-sysmon_rules.xml (level 0 as shipped). */
  baseRuleId: number
  /** The group the base rule adds. */
  group: string
  /**
   * The group of the stock detection rules that chain off this event (0800-sysmon_id_1.xml and
   * its siblings). A matching detection rule replaces the base rule's alert, and its alert
   * carries this group instead of `group`.
   */
  detectionGroup?: string
  what: string
}

/** Sysmon events whose fields the integration looks up in MISP: hashes, IP addresses and domains. */
export const SYSMON_EVENTS: readonly SysmonEvent[] = [
  {eventId: 1, baseRuleId: 61603, group: 'sysmon_event1', detectionGroup: 'sysmon_eid1_detections', what: 'process creation (hashes)'},
  {eventId: 3, baseRuleId: 61605, group: 'sysmon_event3', detectionGroup: 'sysmon_eid3_detections', what: 'network connection (IP address, host name)'},
  {eventId: 6, baseRuleId: 61608, group: 'sysmon_event6', what: 'driver loaded (hashes)'},
  {eventId: 7, baseRuleId: 61609, group: 'sysmon_event7', detectionGroup: 'sysmon_eid7_detections', what: 'image loaded (hashes)'},
  {eventId: 15, baseRuleId: 61617, group: 'sysmon_event_15', what: 'file stream created (hash)'},
  {eventId: 22, baseRuleId: 61650, group: 'sysmon_event_22', what: 'DNS query (domain, answers)'},
  {eventId: 23, baseRuleId: 61651, group: 'sysmon_event_23', what: 'file deleted and archived (hashes)'},
  {eventId: 24, baseRuleId: 61652, group: 'sysmon_event_24', what: 'clipboard change (hashes)'},
  {eventId: 26, baseRuleId: 61654, group: 'sysmon_event_26', what: 'file deleted (hashes)'},
]

/** The Sysmon network connection base rule, parent of the PowerShell connection rule. */
export const SYSMON_NETWORK_CONNECTION_RULE = 61605

/**
 * File integrity monitoring groups of the stock rules 554 (file added) and 550 (file changed) in
 * 0015-ossec_rules.xml. Their alerts carry the file's hashes after the change.
 */
export const FIM_GROUPS: readonly {group: string; what: string}[] = [
  {group: 'syscheck_entry_added', what: 'file added (hashes)'},
  {group: 'syscheck_entry_modified', what: 'file changed (hashes)'},
]

/** The group of the self-test rule; the integration looks up `data.mispwazuh.canary_domain` for these alerts. */
export const SELFTEST_GROUP = 'mispwazuh_selftest'

/** The integration name in ossec.conf; integratord runs /var/ossec/integrations/custom-misp. */
export const INTEGRATION_NAME = 'custom-misp'

/** Returns the groups the `<integration>` block lists, in a fixed order: Sysmon base, Sysmon detections, FIM, self-test. */
export function integrationGroups(): string[] {
  return [
    ...SYSMON_EVENTS.map((event) => event.group),
    ...SYSMON_EVENTS.flatMap((event) => (event.detectionGroup ? [event.detectionGroup] : [])),
    ...FIM_GROUPS.map((entry) => entry.group),
    SELFTEST_GROUP,
  ]
}

/** Returns what a group of the integration block covers, for warnings. */
export function describeGroup(group: string): string {
  const event = SYSMON_EVENTS.find((candidate) => candidate.group === group)
  if (event) return `Sysmon event ${event.eventId}, ${event.what}`
  const detection = SYSMON_EVENTS.find((candidate) => candidate.detectionGroup === group)
  if (detection) return `stock detection rules for Sysmon event ${detection.eventId}, ${detection.what}`
  const fim = FIM_GROUPS.find((candidate) => candidate.group === group)
  if (fim) return `file integrity monitoring, ${fim.what}`
  if (group === SELFTEST_GROUP) return 'the mispwazuh self-test'
  return group
}
