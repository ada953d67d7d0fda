import path from 'node:path/posix'

import type {VerifyFacts} from './facts.js'
import {pass, type HopOutcome, type VerifyContext} from './types.js'

/** The agent name the Sysmon canary uses; its alerts are not counted as a Windows host's. */
export const CANARY_AGENT_NAME = 'mispwazuh-canary'

/** Bytes read from the end of alerts.json to find recent Sysmon alerts. */
const ALERTS_TAIL_BYTES = 32 * 1024 * 1024

/**
 * Summarises the end of alerts.json: per agent, how many alerts carry the sysmon group within
 * the last 24 hours. Runs on the manager, so only the summary crosses the connection.
 */
const SYSMON_SUMMARY = String.raw`
import datetime, json, os, sys
path, limit, skipped = sys.argv[1], int(sys.argv[2]), sys.argv[3]
since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=24)
agents = {}
try:
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - limit))
        if size > limit:
            handle.readline()
        for raw in handle:
            try:
                alert = json.loads(raw)
                stamp = datetime.datetime.strptime(alert["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
            except (ValueError, KeyError, TypeError):
                continue
            agent = alert.get("agent") or {}
            if stamp < since or agent.get("id") in (None, "000") or agent.get("name") == skipped:
                continue
            if "sysmon" not in (alert.get("rule") or {}).get("groups", []):
                continue
            entry = agents.setdefault(agent["id"], {"name": agent.get("name", ""), "count": 0, "last": ""})
            entry["count"] += 1
            entry["last"] = max(entry["last"], alert["timestamp"])
except FileNotFoundError:
    pass
print(json.dumps(agents))
`

interface SysmonAgent {
  name: string
  count: number
  last: string
}

/** Parses `agent_control -l` lines such as "ID: 001, Name: win-01, IP: any, Active". */
export function parseAgentControl(output: string): Array<{id: string; name: string; status: string}> {
  const agents: Array<{id: string; name: string; status: string}> = []
  for (const line of output.split('\n')) {
    const match = /ID:\s*(\d+),\s*Name:\s*(.*?),\s*IP:\s*[^,]*,\s*(.+)$/.exec(line.trim())
    if (match) agents.push({id: match[1] as string, name: match[2] as string, status: (match[3] as string).trim()})
  }

  return agents
}

/** Counts the agents of client.keys; removed agents keep a line whose name starts with "!" or "#". */
export function countRegisteredAgents(clientKeys: string): number {
  return clientKeys.split('\n').filter((line) => {
    const [id, name] = line.trim().split(/\s+/)
    return id !== undefined && /^\d+$/.test(id) && name !== undefined && !name.startsWith('!') && !name.startsWith('#')
  }).length
}

/**
 * Reports how many agents are registered and active, and which sent Sysmon alerts in the last
 * 24 hours. The hop never fails, because the chain works without agents, but it adds a note when
 * no Windows host feeds it.
 */
export async function checkAgents(context: VerifyContext, facts: VerifyFacts): Promise<HopOutcome> {
  const {target} = context
  const clientKeys = path.join(facts.wazuhDir, 'etc', 'client.keys')
  const registered = (await target.exists(clientKeys)) ? countRegisteredAgents(await target.readText(clientKeys)) : 0

  let active: string
  const agentControl = path.join(facts.wazuhDir, 'bin', 'agent_control')
  if (await target.exists(agentControl)) {
    const listed = await target.exec([agentControl, '-l'], {allowExitCodes: 'any', timeoutMs: 60_000})
    const agents = parseAgentControl(listed.stdout).filter((agent) => agent.id !== '000')
    active = listed.exitCode === 0 ? `${agents.filter((agent) => /^Active$/i.test(agent.status)).length} active` : 'active count unknown (agent_control failed)'
  } else {
    active = `active count unknown (${agentControl} is missing)`
  }

  const python = await facts.python()
  const alerts = path.join(facts.wazuhDir, 'logs', 'alerts', 'alerts.json')
  const summary = await target.exec([python, '-c', SYSMON_SUMMARY, alerts, String(ALERTS_TAIL_BYTES), CANARY_AGENT_NAME], {allowExitCodes: 'any', timeoutMs: 120_000})
  let sysmon: Record<string, SysmonAgent> = {}
  try {
    sysmon = JSON.parse(summary.stdout.trim()) as Record<string, SysmonAgent>
  } catch {
    context.log.warn(`Could not summarise ${alerts}: ${summary.stderr.trim()}`)
  }

  const senders = Object.entries(sysmon).map(([id, agent]) => `${id} ${agent.name} (${agent.count} alerts, last ${agent.last})`)
  const found = `${registered} agent${registered === 1 ? '' : 's'} registered, ${active}; ${senders.length} sent Sysmon alerts in the last 24 h${senders.length > 0 ? `: ${senders.join(', ')}` : ''}.`
  const notes = senders.length === 0
    ? ['No Windows host sends Sysmon events, so no real IoC can reach the integration yet. Set up the Windows side with `mispwazuh agent-config` (Wazuh agent, Sysmon and its event channel).']
    : []
  return pass(found, notes)
}
