import path from 'node:path/posix'

import type {MispClient} from '../misp/client.js'
import {INTEGRATION_NAME} from '../wazuh/integration-groups.js'
import {readIntegrationBlocks} from '../wazuh/ossec-conf.js'
import {SELFTEST_LOCATION} from '../wazuh/selftest.js'
import {CANARY_PARENT, createCanaryEvent, deleteCanaryEvent, deleteLeftoverCanaries, findCanaries, newCanaryDomains, type CanaryDomains} from './canary-event.js'
import {buildSelftestEvent, buildSysmonDnsEvent} from './canary-messages.js'
import type {VerifyFacts} from './facts.js'
import {LogFollower} from './follow.js'
import {classifyIntegratordLine, classifyIntegrationLine} from './log-hops.js'
import {describeMispFailure, type MispReach} from './misp-hops.js'
import type {ManagerState} from './manager-hops.js'
import {fail, pass, runHop, skip, type CanaryStage, type HopOutcome, type HopResult, type VerifyContext} from './types.js'

export interface CanaryOptions {
  /** Seconds to wait for MISP to return the canary, and then for each alert journey. */
  timeoutSeconds: number
  /** Milliseconds between two looks at the logs. */
  pollMs?: number
}

interface Alert {
  id?: string
  location?: string
  rule?: {id?: string; level?: number; groups?: string[]; description?: string}
  agent?: {id?: string; name?: string}
  data?: Record<string, unknown>
}

/**
 * Runs the canary. It creates an event in MISP with two unique domains and sends two synthetic
 * events into the manager's queue socket: one for the self-test rule, one shaped like a Windows
 * agent's Sysmon DNS query. Each is followed until the integration's result alert appears in
 * alerts.json. The MISP event is deleted at the end, whatever happened.
 */
export async function runCanary(context: VerifyContext, facts: VerifyFacts, reach: MispReach, manager: ManagerState, options: CanaryOptions): Promise<HopResult[]> {
  const domains = newCanaryDomains()
  const results: HopResult[] = []
  let eventId: string | undefined

  try {
    results.push(await runHop('canary.misp', 'Canary event in MISP, found with the Wazuh key', context, async () => {
      const outcome = await plantCanary(context, facts, reach, domains, options)
      eventId = outcome.eventId
      return outcome.hop
    }))

    let reason: string | undefined
    if (results[0]?.status !== 'pass') reason = 'Skipped: the canary is not in MISP (see canary.misp).'
    else if (!manager.running) reason = 'Skipped: the manager is not running (see wazuh.manager).'

    results.push(await runHop('canary.selftest', 'Self-test canary through the manager and the integration', context, async () => {
      if (reason) return skip(reason)
      return followJourney(context, facts, {
        kind: 'self-test',
        domain: domains.selftest,
        message: buildSelftestEvent(domains.selftest),
        isEventAlert: (alert) => alert.location === SELFTEST_LOCATION && field(alert, 'mispwazuh.canary_domain') === domains.selftest,
        eventAlertName: 'self-test alert in alerts.json',
        noAlertFix: 'The manager raised no alert for the self-test event: check that the self-test rule is loaded and at or above log_alert_level (see wazuh.misp-rules) and that analysisd runs (see wazuh.manager).',
      }, options)
    }))

    results.push(await runHop('canary.sysmon', 'Sysmon DNS canary through rule 61650 and the integration', context, async () => {
      if (reason) return skip(reason)
      return followJourney(context, facts, {
        kind: 'Sysmon',
        domain: domains.sysmon,
        message: buildSysmonDnsEvent(domains.sysmon),
        isEventAlert: (alert) => field(alert, 'win.eventdata.queryName') === domains.sysmon && (alert.rule?.groups ?? []).includes('sysmon_event_22'),
        eventAlertName: 'Sysmon event 22 alert in alerts.json',
        noAlertFix: 'The manager raised no alert for the Sysmon DNS event: rule 61650 (Sysmon event 22) must be at or above log_alert_level (see wazuh.sysmon-rules), and analysisd must decode eventchannel events (windows_eventchannel decoder, rules 60000, 60004, 61600).',
      }, options)
    }))
  } finally {
    if (eventId !== undefined || (results[0] !== undefined && results[0].status !== 'skip')) {
      results.push(await runHop('canary.cleanup', 'Canary removed from MISP and the integration cache', context, () => cleanUp(context, facts, reach, domains, eventId)))
    }
  }

  return results
}

async function plantCanary(context: VerifyContext, facts: VerifyFacts, reach: MispReach, domains: CanaryDomains, options: CanaryOptions): Promise<{hop: HopOutcome; eventId?: string}> {
  if (!reach.reachable) return {hop: skip('Skipped: MISP is not reachable (see misp.reachable).')}
  if (!reach.adminClient) {
    const admin = await facts.adminKey()
    return {
      hop: fail(
        `The canary cannot be planted: creating its MISP event needs the admin key, and ${admin.problem ?? 'MISP rejected it (see misp.reachable)'}.`,
        'When setup installed MISP on another host, run verify with the same --misp-host. Otherwise restore the admin key file (run `mispwazuh setup` again), or run verify with --no-canary to check the hops only.',
      ),
    }
  }

  const config = await facts.integrationConfig()
  const key = config.value?.values.api_key
  if (typeof key !== 'string' || key === '') return {hop: skip(`Skipped: the integration has no key to search with (${config.problem ?? 'api_key missing'}).`)}
  const wazuh = await facts.client(key)
  if (!wazuh.value) return {hop: skip(`Skipped: ${wazuh.problem}.`)}

  const stages: CanaryStage[] = []
  const notes: string[] = []
  let eventId: string
  try {
    const leftovers = await deleteLeftoverCanaries(reach.adminClient)
    if (leftovers.length > 0) notes.push(`Deleted canary event${leftovers.length === 1 ? '' : 's'} ${leftovers.join(', ')} left by an earlier run that stopped before its cleanup.`)
    eventId = await createCanaryEvent(reach.adminClient, domains)
  } catch (error) {
    const url = (await facts.mispUrl()) ?? 'MISP'
    const hop = describeMispFailure(error, url, (await facts.caPem()).value?.file ?? 'the CA file')
    return {hop: {...hop, found: `Could not create the canary event: ${hop.found}`, stages: [{name: 'event created and published', reached: false, detail: String((error as Error).message)}]}}
  }

  stages.push({name: 'event created and published', reached: true, detail: `event ${eventId}, tag mispwazuh:canary, distribution "your organisation only", to_ids domains ${domains.selftest} and ${domains.sysmon}`})
  context.progress(`canary event ${eventId} created in MISP; waiting until the Wazuh key finds it`)

  const started = Date.now()
  const deadline = started + options.timeoutSeconds * 1000
  let seen = new Set<string>()
  let lastError: string | undefined
  while (Date.now() < deadline) {
    try {
      seen = await findCanaries(wazuh.value, [domains.selftest, domains.sysmon])
      lastError = undefined
      if (seen.size === 2) break
    } catch (error) {
      lastError = (error as Error).message
    }

    await sleep(options.pollMs ?? 1000)
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (seen.size < 2) {
    stages.push({name: 'found by restSearch with the Wazuh key', reached: false, detail: lastError ?? `${seen.size} of 2 canary domains found after ${seconds} s`})
    return {
      eventId,
      hop: fail(
        `Canary event ${eventId} was created, but restSearch with the integration's key found ${seen.size} of its 2 domains within ${options.timeoutSeconds} s${lastError ? ` (${lastError})` : ''}.`,
        'Check that publishing works (MISP > Administration > Jobs when background jobs are on) and that the Wazuh user belongs to the organisation that owns the event (its distribution is "your organisation only").',
        notes,
      ),
    }
  }

  stages.push({name: 'found by restSearch with the Wazuh key', reached: true, detail: `both domains found after ${seconds} s (to_ids, published, warninglists enforced)`})
  return {eventId, hop: {...pass(`Canary event ${eventId} created and published; restSearch with the integration's key found both canary domains after ${seconds} s.`, notes), stages}}
}

interface Journey {
  kind: string
  domain: string
  message: string
  isEventAlert: (alert: Alert) => boolean
  eventAlertName: string
  noAlertFix: string
}

/** Sends one canary event into the queue socket and follows it through alerts.json, integrations.log and ossec.log. */
async function followJourney(context: VerifyContext, facts: VerifyFacts, journey: Journey, options: CanaryOptions): Promise<HopOutcome> {
  const logs = path.join(facts.wazuhDir, 'logs')
  const alertsFile = path.join(logs, 'alerts', 'alerts.json')
  const integrationsFile = path.join(logs, 'integrations.log')
  const ossecFile = path.join(logs, 'ossec.log')
  const follower = new LogFollower(context, facts, [
    {file: alertsFile, needles: [journey.domain]},
    {file: integrationsFile, needles: [journey.domain]},
    {file: ossecFile, needles: ['wazuh-integratord']},
  ])
  await follower.start()

  const sent = await sendToQueue(context, facts, journey.message)
  if (!sent.ok) {
    return {...fail(`The ${journey.kind} event could not be sent to ${queuePath(facts)}: ${sent.error}.`, 'Start the manager (`systemctl restart wazuh-manager`): analysisd owns the queue socket.'), stages: [{name: 'event sent to the queue socket', reached: false, detail: sent.error}]}
  }

  context.progress(`${journey.kind} canary sent; waiting for its alerts (up to ${options.timeoutSeconds} s)`)
  const started = Date.now()
  const deadline = started + options.timeoutSeconds * 1000
  let eventAlert: Alert | undefined
  let resultAlert: Alert | undefined
  let errorAlert: Alert | undefined
  const integrationLines: string[] = []
  const integratordErrors: string[] = []
  let mispAnswer: 'match' | 'error' | undefined
  let giveUpAt = deadline

  while (Date.now() < giveUpAt) {
    const lines = await follower.poll()
    for (const line of lines.get(alertsFile) ?? []) {
      const alert = parseAlert(line)
      if (!alert) continue
      if (!eventAlert && journey.isEventAlert(alert)) {
        eventAlert = alert
        if (alert.id) {
          follower.addNeedle(integrationsFile, `alert ${alert.id}:`)
          follower.addNeedle(alertsFile, alert.id)
        }
      } else if (field(alert, 'integration') === 'misp') {
        const misp = (alert.data?.misp ?? {}) as Record<string, unknown>
        const source = (misp.source ?? {}) as Record<string, unknown>
        if (misp.error !== undefined && eventAlert?.id !== undefined && source.alert_id === eventAlert.id) errorAlert = alert
        else if (misp.ioc_value === journey.domain || misp.value === journey.domain) resultAlert = alert
      }
    }

    for (const line of lines.get(integrationsFile) ?? []) {
      integrationLines.push(line)
      if (/MISP match:/.test(line)) mispAnswer = 'match'
      else if (/MISP lookup failed/.test(line)) mispAnswer = 'error'
    }

    for (const line of lines.get(ossecFile) ?? []) {
      if (/\b(?:ERROR|CRITICAL)\b/.test(line)) integratordErrors.push(line)
    }

    if (resultAlert) break
    // A failure is final once it is logged; wait a little for the error alert, then stop.
    if ((mispAnswer === 'error' || integratordErrors.length > 0) && eventAlert) giveUpAt = Math.min(giveUpAt, Date.now() + 3000)
    await sleep(options.pollMs ?? 1000)
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const stages: CanaryStage[] = [{name: 'event sent to the queue socket', reached: true, detail: queuePath(facts)}]
  stages.push({name: journey.eventAlertName, reached: eventAlert !== undefined, detail: eventAlert ? describeAlert(eventAlert) : `none within ${options.timeoutSeconds} s`})
  const ran = integrationLines.length > 0 || resultAlert !== undefined || errorAlert !== undefined
  stages.push({name: 'integration ran', reached: ran, detail: ran ? (integrationLines.at(-1)?.slice(0, 200) ?? 'its result reached the manager') : integratordErrors.at(-1)?.slice(0, 200) ?? 'no sign of a run (no line in integrations.log, no result)'})
  const answered = mispAnswer === 'match' || resultAlert !== undefined
  let answerDetail = 'no answer seen'
  if (answered) answerDetail = 'MISP returned the canary attribute'
  else if (mispAnswer === 'error') answerDetail = integrationLines.filter((line) => /MISP lookup failed/.test(line)).at(-1)?.slice(0, 200) ?? 'lookup failed'
  stages.push({name: 'MISP answered with the canary', reached: answered, detail: answerDetail})

  let resultDetail = 'none'
  if (resultAlert) resultDetail = describeAlert(resultAlert)
  else if (errorAlert) resultDetail = `only an error alert: ${describeAlert(errorAlert)}`
  stages.push({name: 'result alert in alerts.json', reached: resultAlert !== undefined, detail: resultDetail})

  const journeyText = stages.slice(1).map((stage) => `${stage.name}: ${stage.reached ? 'yes' : 'NO'}`).join(' → ')
  if (resultAlert) return {...pass(`${journeyText} (${seconds} s). ${journey.domain} went from the ${journey.kind} event to ${describeAlert(resultAlert)}.`), stages}

  return {...fail(`${journeyText}. Stopped after ${seconds} s.`, await journeyFix(facts, journey, eventAlert, ran, mispAnswer, integrationLines, integratordErrors)), stages}
}

async function journeyFix(facts: VerifyFacts, journey: Journey, eventAlert: Alert | undefined, ran: boolean, mispAnswer: string | undefined, integrationLines: string[], integratordErrors: string[]): Promise<string> {
  if (!eventAlert) return journey.noAlertFix

  const script = path.join(facts.wazuhDir, 'integrations', INTEGRATION_NAME)
  if (!ran) {
    const conf = await facts.ossecConf()
    const block = conf.value ? readIntegrationBlocks(conf.value)[0] : undefined
    const groups = eventAlert.rule?.groups ?? []
    if (!block) return `ossec.conf has no ${INTEGRATION_NAME} block, so integratord passes no alert to the integration (see wazuh.integration-block).`
    if (!block.groups.some((group) => groups.includes(group))) {
      return `integratord skips this alert: its groups (${groups.join(', ')}) match no entry of the block's <group> (${block.groups.join(',')}). Correct the group list (see wazuh.integration-block).`
    }

    const classified = integratordErrors.map((line) => classifyIntegratordLine(line, script)).find((entry) => entry !== undefined)
    if (classified) return `integratord could not run the integration (${classified.kind}): ${classified.fix}`
    return 'integratord did not run the integration in time: check that wazuh-integratord runs (see wazuh.manager) and read ossec.log. With a MISP miss and debug off the integration writes no line, so also check that MISP returns the canary (see canary.misp).'
  }

  if (mispAnswer === 'error') {
    const line = integrationLines.filter((entry) => /MISP lookup failed/.test(entry)).at(-1) ?? ''
    return classifyIntegrationLine(line)?.fix ?? 'Read integrations.log.'
  }

  if (mispAnswer === 'match') return 'The integration found the canary but no result alert appeared: check that misp.xml is loaded (see wazuh.misp-rules) and that the integration can write to the queue socket (integrations.log).'
  return `The integration ran but logged no match for ${journey.domain}: check that the Wazuh user sees the canary event (see canary.misp) and that the field table of the installed script covers this event.`
}

async function cleanUp(context: VerifyContext, facts: VerifyFacts, reach: MispReach, domains: CanaryDomains, eventId: string | undefined): Promise<HopOutcome> {
  const notes: string[] = []
  const purged = await purgeCache(context, facts, domains)
  const cacheText = purged.error ? `the integration cache could not be cleaned (${purged.error})` : `${purged.removed} cached lookup${purged.removed === 1 ? '' : 's'} of the canary removed from the integration cache`
  if (eventId === undefined) return pass(`No canary event was created; ${cacheText}.`)
  if (!reach.adminClient) return fail(`Canary event ${eventId} could not be deleted: no admin client.`, `Delete MISP event ${eventId} (tag mispwazuh:canary) by hand.`)

  try {
    await deleteCanaryEvent(reach.adminClient, eventId)
  } catch (error) {
    return fail(`Deleting canary event ${eventId} failed: ${(error as Error).message}`, `Delete MISP event ${eventId} (tag mispwazuh:canary) by hand in MISP.`, notes)
  }

  const left = await stillFound(facts, [domains.selftest, domains.sysmon])
  if (left !== undefined && left.size > 0) return fail(`Canary event ${eventId} was deleted, but restSearch still finds ${[...left].join(', ')}.`, `Delete the attributes of ${[...left].join(', ')} in MISP by hand.`, notes)
  if (purged.error) notes.push(`Cached canary lookups expire by themselves within the cache's hit TTL; ${purged.error}.`)
  return pass(`Canary event ${eventId} deleted${left === undefined ? '' : '; restSearch no longer finds its domains'}; ${cacheText}.`, notes)
}

async function stillFound(facts: VerifyFacts, domains: string[]): Promise<Set<string> | undefined> {
  const config = await facts.integrationConfig()
  const key = config.value?.values.api_key
  if (typeof key !== 'string') return undefined
  const client = await facts.client(key)
  if (!client.value) return undefined
  try {
    return await findCanaries(client.value as MispClient, domains)
  } catch {
    return undefined
  }
}

/**
 * Deletes the integration's cached lookups of the canary domains and their parent, as user
 * wazuh so that SQLite's journal files keep the wazuh owner.
 */
const PURGE = String.raw`
import json, os, sqlite3, sys
spec = json.load(sys.stdin)
path = os.path.join(spec["cache_dir"], "cache.sqlite3")
if not os.path.exists(path):
    print(0)
    sys.exit(0)
connection = sqlite3.connect(path, timeout=5.0)
with connection:
    removed = connection.execute("DELETE FROM lookups WHERE value IN (%s)" % ",".join("?" * len(spec["values"])), spec["values"]).rowcount
connection.close()
print(removed)
`

async function purgeCache(context: VerifyContext, facts: VerifyFacts, domains: CanaryDomains): Promise<{removed: number; error?: string}> {
  const config = await facts.integrationConfig()
  const configured = config.value?.values.cache_dir
  const cacheDir = typeof configured === 'string' && configured !== '' ? configured : path.join(facts.wazuhDir, 'var', 'mispwazuh')
  const python = await facts.python()
  const values = [domains.selftest, domains.sysmon, CANARY_PARENT]
  const result = await context.target.exec(['runuser', '-u', 'wazuh', '--', python, '-c', PURGE], {stdin: JSON.stringify({cache_dir: cacheDir, values}), allowExitCodes: 'any', timeoutMs: 30_000})
  if (result.exitCode !== 0) return {removed: 0, error: (result.stderr.trim().split('\n').pop() ?? `exit ${result.exitCode}`).slice(0, 200)}
  return {removed: Number(result.stdout.trim()) || 0}
}

/** Sends one datagram to the manager's queue socket; the message travels on stdin, never in argv. */
const SEND = String.raw`
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    sock.connect(sys.argv[1])
    sock.send(sys.stdin.buffer.read())
except OSError as error:
    print("errno %s: %s" % (error.errno, error.strerror))
    sys.exit(3)
`

function queuePath(facts: VerifyFacts): string {
  return path.join(facts.wazuhDir, 'queue', 'sockets', 'queue')
}

async function sendToQueue(context: VerifyContext, facts: VerifyFacts, message: string): Promise<{ok: boolean; error: string}> {
  const python = await facts.python()
  const result = await context.target.exec([python, '-c', SEND, queuePath(facts)], {stdin: message, allowExitCodes: 'any', timeoutMs: 30_000})
  if (result.exitCode === 0) return {ok: true, error: ''}
  return {ok: false, error: (result.stdout.trim() || result.stderr.trim().split('\n').pop() || `exit ${result.exitCode}`).slice(0, 200)}
}

function parseAlert(line: string): Alert | undefined {
  try {
    const value = JSON.parse(line) as unknown
    return typeof value === 'object' && value !== null ? (value as Alert) : undefined
  } catch {
    return undefined
  }
}

/** Returns `data.<dotted>` of an alert as a string, or undefined. */
function field(alert: Alert, dotted: string): unknown {
  let value: unknown = alert.data
  for (const part of dotted.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string, unknown>)[part]
  }

  return value
}

function describeAlert(alert: Alert): string {
  return `rule ${alert.rule?.id ?? '?'} level ${alert.rule?.level ?? '?'} "${(alert.rule?.description ?? '').slice(0, 120)}" (alert ${alert.id ?? '?'})`
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}
