import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../cli/base-command.js'
import {ExitCode} from '../errors.js'
import {runPreflight, type PreflightItem, type PreflightReport} from '../steps/preflight.js'

const SETTINGS = [...CONNECTION_SETTINGS, 'mispHttpPort', 'mispHttpsPort', 'wazuhDashboardPort', 'mispDockerDir', 'skipMisp', 'ignoreRequirements'] as const

export default class Preflight extends BaseCommand<PreflightReport> {
  static override summary = 'Check that a host can run MISP and Wazuh, and say what to fix.'

  static override description = `Reports the host's OS and version, CPU cores, memory, free disk on / and /var, root or sudo,
the ports Wazuh and MISP need that are already in use, Docker Engine and its compose plugin,
an installed Wazuh manager or misp-docker, and time synchronisation. Each item gets a verdict:
ok, warn or blocking, with the reason and the fix. Nothing on the host changes.

Exit status: 0 when nothing is blocking, 20 when something is.`

  static override examples = [
    '<%= config.bin %> preflight',
    '<%= config.bin %> preflight --host admin@192.0.2.10 --identity ~/.ssh/id_ed25519',
    '<%= config.bin %> preflight --host root@192.0.2.10:2222 --json',
  ]

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<PreflightReport> {
    const {flags} = await this.parse(Preflight)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('preflight')
    const target = await this.openTarget(values, log)

    let report: PreflightReport
    try {
      this.progress(`Checking ${target.name}...`)
      report = await runPreflight(target, {
        mispHttpPort: values.mispHttpPort ?? 8080,
        mispHttpsPort: values.mispHttpsPort ?? 8443,
        wazuhDashboardPort: values.wazuhDashboardPort ?? 443,
        mispDockerDir: values.mispDockerDir ?? '/opt/misp-docker',
        skipMisp: values.skipMisp,
        ignoreRequirements: values.ignoreRequirements,
      })
    } finally {
      await target.close()
    }

    this.print(renderReport(report))
    if (report.blocking > 0) process.exitCode = ExitCode.requirementsNotMet
    return report
  }
}

const LABEL: Record<PreflightItem['verdict'], string> = {ok: 'ok', warn: 'warn', blocking: 'BLOCKING'}

export function renderReport(report: PreflightReport): string {
  const width = Math.max(...report.items.map((item) => item.title.length))
  const lines = [`Preflight for ${report.target}`, '']
  for (const item of report.items) {
    lines.push(`  ${LABEL[item.verdict].padEnd(8)}  ${item.title.padEnd(width)}  ${item.found}${item.reason ? `: ${item.reason}` : ''}`)
    if (item.fix && item.verdict !== 'ok') lines.push(`  ${''.padEnd(8)}  ${''.padEnd(width)}  fix: ${item.fix}`)
  }

  lines.push('')
  const summary = `${report.blocking} blocking, ${report.warnings} ${report.warnings === 1 ? 'warning' : 'warnings'}`
  lines.push(report.blocking > 0 ? `Verdict: ${summary}. setup would stop here; fix the blocking items first.` : `Verdict: ${summary}. The host can run setup.`)
  return lines.join('\n')
}
