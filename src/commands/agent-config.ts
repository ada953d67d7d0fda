import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../cli/base-command.js'
import {ExitCode} from '../errors.js'
import {formatHostSpec} from '../settings/host.js'
import {runAgentConfig, type AgentConfigResult} from '../windows/agent-config.js'
import {renderAgentConfigText, renderPush} from '../windows/render.js'

const SETTINGS = [
  ...CONNECTION_SETTINGS,
  'managerAddress',
  'agentVersion',
  'group',
  'agentName',
  'registrationPasswordFile',
  'sysmonConfigUrl',
  'format',
  'outDir',
  'push',
  'dryRun',
] as const

export default class AgentConfig extends BaseCommand<AgentConfigResult> {
  static override summary = 'Give Windows hosts the Wazuh agent and Sysmon, or push Sysmon collection to an agent group.'

  static override description = `Prints what a Windows host needs to report Sysmon events to this manager: PowerShell that
installs and enrolls the Wazuh agent (the MSI of the manager's version), PowerShell that installs
Sysmon with a configuration (mispwazuh's own, or one from --sysmon-config-url) or updates the
configuration of an installed Sysmon, the agent <localfile> block for the
Microsoft-Windows-Sysmon/Operational channel, and the agent restart.

With --host, the Wazuh version and whether enrollment needs a password are read from the manager.
The registration password never appears in the output or the script: the script reads it from
a file or asks for it on the Windows host.

With --push --group NAME, the <localfile> goes into the group's shared agent.conf on the
manager instead (the group is created if missing), so every agent of the group collects Sysmon
at its next check-in. --dry-run shows the diff and changes nothing (exit 2 when changes are
pending).`

  static override examples = [
    '<%= config.bin %> agent-config --host root@192.0.2.20',
    '<%= config.bin %> agent-config --manager-address 192.0.2.20 --agent-version 4.12.0 --format ps1 > install-wazuh-agent.ps1',
    '<%= config.bin %> agent-config --host root@192.0.2.20 --group windows --out ./windows-agent',
    '<%= config.bin %> agent-config --host root@192.0.2.20 --push --group windows --dry-run',
  ]

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<AgentConfigResult> {
    const {flags} = await this.parse(AgentConfig)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('agent-config')
    // The local machine when --host is absent: run on the manager itself, its values are read too.
    const target = await this.openTarget(values, log)

    let result: AgentConfigResult
    try {
      result = await runAgentConfig({
        target,
        hostAddress: values.host?.host,
        managerAddress: values.managerAddress,
        agentVersion: values.agentVersion,
        group: values.group,
        agentName: values.agentName,
        registrationPasswordFile: values.registrationPasswordFile,
        sysmonConfigUrl: values.sysmonConfigUrl,
        push: values.push ?? false,
        dryRun: values.dryRun ?? false,
        outDir: values.outDir,
        generatorVersion: this.config.version,
        log,
        redactor: this.redactor,
        progress: (message) => this.progress(message),
      })
    } finally {
      await target.close()
    }

    log.info(`agent-config for ${values.host ? formatHostSpec(values.host) : 'flags only'}: ${result.files.length} files written`)
    const format = values.format ?? 'text'
    this.print(renderOutput(result, format))
    // The ps1 and xml outputs are meant for redirection into a file: the push report and the
    // warnings go to stderr.
    if (format === 'ps1' || format === 'xml') {
      if (result.push) this.progress(renderPush(result.push, result.group ?? '').join('\n'))
      for (const warning of result.warnings) this.progress(`Warning: ${warning}`)
    }
    if (result.push?.dryRun && result.push.steps.some((step) => step.status === 'pending')) process.exitCode = ExitCode.changesPending
    return result
  }
}

function renderOutput(result: AgentConfigResult, format: 'text' | 'ps1' | 'xml' | 'json'): string {
  if (format === 'ps1') return result.snippets.installScript.trimEnd()
  if (format === 'xml') return result.snippets.localfileXml.trimEnd()
  if (format === 'json') return JSON.stringify(result, undefined, 2)
  return renderAgentConfigText(result)
}
