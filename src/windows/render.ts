import type {StepResult} from '../plan/step.js'
import type {AgentConfigResult} from './agent-config.js'
import {SYSMON_CHANNEL} from './agent-config.js'

const AGENT_OSSEC_CONF = String.raw`C:\Program Files (x86)\ossec-agent\ossec.conf`

/** Renders the result for a terminal: the push report (if any), then the snippets under numbered headings. */
export function renderAgentConfigText(result: AgentConfigResult): string {
  const lines: string[] = []
  const {manager} = result
  const groupText = result.group ? `, agent group ${result.group}` : ''
  lines.push(`Windows agents for the Wazuh manager ${manager.address} (Wazuh ${manager.version}${groupText})`)
  lines.push(`  manager address: ${manager.address} (${manager.addressSource === 'flag' ? '--manager-address' : 'the --host address'})`)
  lines.push(`  agent version:   ${manager.version} (${manager.versionSource === 'flag' ? '--agent-version' : 'read from the manager'})`)
  lines.push(`  registration:    ${describePassword(result)}`)
  lines.push(`  Sysmon config:   ${result.sysmonConfig.source === 'url' ? result.sysmonConfig.url ?? '' : `shipped with mispwazuh (schema ${result.sysmonConfig.schemaVersion ?? '?'}, event IDs ${(result.sysmonConfig.eventIds ?? []).join(', ')})`}`)

  if (result.push) lines.push('', ...renderPush(result.push, result.group ?? ''))

  lines.push('')
  lines.push('Run each block in an elevated PowerShell on the Windows host, in order, or run the single')
  lines.push('script that --format ps1 prints (or --out writes).')

  lines.push('', heading('1. Install and enroll the Wazuh agent'), result.snippets.agentInstall.trimEnd())
  lines.push('', heading(`2. Install Sysmon, or update its configuration`), result.snippets.sysmonInstall.trimEnd())

  lines.push('', heading(`3. Forward the ${SYSMON_CHANNEL} channel`))
  if (result.localfileFromGroup) {
    lines.push(`The agent group ${result.group ?? ''} delivers this <localfile> in its shared agent.conf: nothing to add on the host.`)
  } else {
    lines.push(`Append this block to ${AGENT_OSSEC_CONF} (the agent reads every <ossec_config> block),`)
    lines.push('or run the PowerShell after it, which appends it unless the agent already reads the channel:')
    lines.push('', result.snippets.localfileXml.trimEnd(), '', result.snippets.localfileInstall.trimEnd())
  }

  lines.push('', heading('4. Restart the agent'), result.snippets.agentRestart.trimEnd())

  if (result.files.length > 0) lines.push('', 'Files written:', ...result.files.map((file) => `  ${file}`))
  if (result.registrationPassword.passwordFileWritten) {
    lines.push('', `${result.registrationPassword.passwordFileWritten} holds the registration password (mode 0600). Copy it next to the script on the Windows host, and delete both copies once the agent has enrolled.`)
  }

  for (const warning of result.warnings) lines.push('', `Warning: ${warning}`)
  return lines.join('\n')
}

function describePassword(result: AgentConfigResult): string {
  const {registrationPassword: password} = result
  if (!password.required) {
    return password.source === 'manager' ? 'no password (the manager\'s <auth><use_password> is not yes)' : 'no password set up here (see the warning below)'
  }

  const where = password.source === 'file' ? '--registration-password-file' : 'the manager\'s ossec.conf'
  return `password required (${where}); the script reads it from a file or asks for it, and never contains it`
}

const STATUS_LABEL: Record<StepResult['status'], string> = {ok: 'ok', changed: 'changed', pending: 'would change', skipped: 'skipped', failed: 'FAILED'}

/** Renders the --push report: each step with its status and changes (diffs in a dry run), then the group's agents. */
export function renderPush(push: NonNullable<AgentConfigResult['push']>, group: string): string[] {
  const lines = [push.dryRun ? `Dry run: changes for the agent group ${group} (nothing was written)` : `Agent group ${group}`]
  for (const step of push.steps) {
    lines.push(`  ${STATUS_LABEL[step.status].padEnd(12)} ${step.title}: ${step.reason}`)
    for (const change of step.changes) {
      if (step.status === 'ok') continue
      lines.push(`  ${''.padEnd(12)} ${change.summary}`)
      if (change.diff && push.dryRun) lines.push(...change.diff.trimEnd().split('\n').map((line) => `      ${line}`))
    }
  }

  if (push.agents === undefined) {
    lines.push(`  Agents in ${group}: none yet (the group does not exist until the push runs).`)
  } else if (push.agents.length === 0) {
    lines.push(`  Agents in ${group}: none yet. Agents that enroll with WAZUH_AGENT_GROUP=${group} get ${push.agentConf} on their first check-in.`)
  } else {
    lines.push(`  Agents in ${group} (${push.agents.length}): ${push.agents.map((agent) => `${agent.id} ${agent.name}`).join(', ')}`)
    const changed = push.steps.some((step) => step.status === 'changed' || step.status === 'pending')
    lines.push(changed ? `  They download the new agent.conf at their next check-in with the manager and restart to apply it.` : '  They already have this agent.conf (or get it at their next check-in).')
  }

  return lines
}

function heading(title: string): string {
  return `== ${title} ${'='.repeat(Math.max(3, 76 - title.length))}`
}
