import {InvalidInputError} from '../errors.js'
import {SYSMON_CHANNEL} from '../wazuh/agent-groups.js'
import {readTemplate, renderTemplate} from '../templates.js'
import {psQuote} from './powershell.js'
import {shippedSysmonConfig} from './sysmon-config.js'

/** Download URL of the current Sysmon from Sysinternals (Sysmon.exe, Sysmon64.exe and Sysmon64a.exe in one zip). */
export const SYSMON_ZIP_URL = 'https://download.sysinternals.com/files/Sysmon.zip'


export interface WindowsSnippetInput {
  /** Address agents use to reach the manager: host name, IPv4 or IPv6 address. */
  managerAddress: string
  /** Full Wazuh agent version, such as 4.12.0. */
  agentVersion: string
  /** Package revision of the MSI; Wazuh publishes revision 1 for each release. */
  packageRevision?: number
  /** Agent group the agent joins at enrollment (WAZUH_AGENT_GROUP). */
  group?: string | undefined
  /** Agent name at enrollment (WAZUH_AGENT_NAME); the computer name when absent. */
  agentName?: string | undefined
  /** The manager's agent connection port (WAZUH_MANAGER_PORT) when not the default 1514. */
  managerPort?: number | undefined
  /** The manager's enrollment port (WAZUH_REGISTRATION_PORT) when not the default 1515. */
  registrationPort?: number | undefined
  /** The manager's authd requires a registration password (`<auth><use_password>yes`). */
  registrationPasswordRequired: boolean
  /** A Sysmon configuration to download instead of the one shipped with mispwazuh. */
  sysmonConfigUrl?: string | undefined
  /**
   * The group's shared agent.conf already delivers the Sysmon `<localfile>`, so the install
   * script leaves the agent's own ossec.conf alone (the channel would otherwise be read twice).
   */
  localfileFromGroup?: boolean
  /** mispwazuh's version, written into the script header. */
  generatorVersion: string
}

export interface WindowsSnippets {
  /** PowerShell: download, install and enroll the Wazuh agent, then start it. */
  agentInstall: string
  /** PowerShell: write the Sysmon configuration, then install Sysmon or update its configuration. */
  sysmonInstall: string
  /** The agent ossec.conf block that reads the Sysmon event channel. */
  localfileXml: string
  /** PowerShell: append `localfileXml` to the agent's ossec.conf unless it is already there. */
  localfileInstall: string
  /** PowerShell: restart the agent. */
  agentRestart: string
  /** One script that runs all of the above, for `--format ps1` and `--out`. */
  installScript: string
  /** The shipped Sysmon configuration, or undefined when a URL replaces it. */
  sysmonConfigXml: string | undefined
  msiUrl: string
}

/**
 * Returns the URL of the Wazuh agent MSI for a version, following the layout of
 * packages.wazuh.com: `https://packages.wazuh.com/4.x/windows/wazuh-agent-4.12.0-1.msi`.
 */
export function agentMsiUrl(version: string, revision = 1): string {
  const match = /^(\d+)\.\d+\.\d+$/.exec(version)
  if (!match) throw new InvalidInputError(`Invalid Wazuh agent version "${version}". Expected a full version such as 4.12.0.`)
  return `https://packages.wazuh.com/${match[1]}.x/windows/wazuh-agent-${version}-${revision}.msi`
}

/**
 * Formats one MSI public property for the msiexec command line: `NAME="value"`, with a double
 * quote inside the value doubled, as Windows Installer reads it.
 */
export function msiProperty(name: string, value: string): string {
  return `${name}="${value.replaceAll('"', '""')}"`
}

/**
 * Builds every Windows snippet for one manager. Each PowerShell snippet runs on its own in an
 * elevated PowerShell; values reach PowerShell only as single-quoted literals (psQuote).
 */
export function buildWindowsSnippets(input: WindowsSnippetInput): WindowsSnippets {
  const revision = input.packageRevision ?? 1
  const msiUrl = agentMsiUrl(input.agentVersion, revision)
  const msiFile = `wazuh-agent-${input.agentVersion}-${revision}.msi`

  const properties = [msiProperty('WAZUH_MANAGER', input.managerAddress)]
  if (input.group) properties.push(msiProperty('WAZUH_AGENT_GROUP', input.group))
  if (input.agentName) properties.push(msiProperty('WAZUH_AGENT_NAME', input.agentName))
  if (input.managerPort) properties.push(msiProperty('WAZUH_MANAGER_PORT', String(input.managerPort)))
  if (input.registrationPort) properties.push(msiProperty('WAZUH_REGISTRATION_PORT', String(input.registrationPort)))

  const sysmonConfigXml = input.sysmonConfigUrl ? undefined : shippedSysmonConfig()
  const localfileXml = readTemplate('windows', 'sysmon-localfile.xml')
  const data = {
    managerAddress: input.managerAddress,
    agentVersion: input.agentVersion,
    generatorVersion: input.generatorVersion,
    msiUrl,
    msiFile,
    msiProperties: properties.join(' '),
    registrationPasswordRequired: input.registrationPasswordRequired,
    sysmonConfigUrl: input.sysmonConfigUrl ?? '',
    sysmonConfigXml: sysmonConfigXml ?? '',
    sysmonZipUrl: SYSMON_ZIP_URL,
    localfileXml,
  }

  const requireAdmin = render('require-admin.ps1.hbs', data)
  const agentInstall = requireAdmin + render('install-agent.ps1.hbs', data)
  const sysmonInstall = requireAdmin + render('install-sysmon.ps1.hbs', data)
  const localfileInstall = requireAdmin + render('add-localfile.ps1.hbs', data)
  const agentRestart = render('restart-agent.ps1.hbs', data)

  const sections = [
    render('install.ps1.hbs', data) + requireAdmin,
    section('1. Wazuh agent', render('install-agent.ps1.hbs', data)),
    section('2. Sysmon', render('install-sysmon.ps1.hbs', data)),
  ]
  if (input.localfileFromGroup) {
    sections.push(section('3. Sysmon event channel', `# The agent group ${psQuote(input.group ?? '', 'group')} delivers the <localfile> for ${SYSMON_CHANNEL}\n# in its shared agent.conf, so the agent's own ossec.conf stays as it is.\n`))
  } else {
    sections.push(section('3. Sysmon event channel', render('add-localfile.ps1.hbs', data)))
  }

  sections.push(section('4. Restart', agentRestart))
  sections.push("Write-Output 'Done: the Wazuh agent forwards Sysmon events to the manager.'\n")

  return {agentInstall, sysmonInstall, localfileXml, localfileInstall, agentRestart, installScript: sections.join('\n'), sysmonConfigXml, msiUrl}
}

function section(title: string, body: string): string {
  return `# ---- ${title} ${'-'.repeat(Math.max(4, 80 - title.length - 8))}\n${body}`
}

/** Renders a template from `templates/windows/`; values enter only through the `ps` and `hereString` helpers. */
function render(name: string, data: object): string {
  return renderTemplate(`windows/${name}`, data, {
    helpers: {
      ps: (value: unknown) => {
        if (typeof value !== 'string') throw new TypeError(`Expected a string for a PowerShell template value, got ${typeof value}`)
        return psQuote(value)
      },
      hereString: (value: unknown) => {
        if (typeof value !== 'string') throw new TypeError(`Expected a string for a PowerShell here-string, got ${typeof value}`)
        return psHereString(value)
      },
    },
  })
}

/**
 * Wraps a block of text in a single-quoted here-string (`@'` ... `'@`), in which PowerShell
 * expands nothing. The only sequence that ends it is a line starting with `'@`, so text with
 * such a line is rejected.
 */
export function psHereString(text: string): string {
  const body = text.replaceAll('\r\n', '\n').replace(/\n$/, '')
  if (/^['\u2018\u2019\u201A\u201B]@/m.test(body)) {
    throw new TypeError('Text for a PowerShell here-string must not have a line starting with \'@')
  }

  return `@'\n${body}\n'@`
}
