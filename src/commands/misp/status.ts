import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../../cli/base-command.js'
import {ExitCode} from '../../errors.js'
import {mispStatus, type MispStatusReport} from '../../misp/status.js'

const SETTINGS = [...CONNECTION_SETTINGS] as const

export default class MispStatus extends BaseCommand<MispStatusReport> {
  static override summary = 'Show whether the MISP that setup configured works: TLS, keys, feeds, warninglists, refresh job.'

  static override description = `Reads /etc/mispwazuh/misp-credentials on the host and checks, against MISP itself: the
connection over TLS verified with the recorded CA (or pinned certificate), the admin key, how many
feeds are enabled and cached, whether every warninglist is enabled, whether the Wazuh auth key
authenticates as the Wazuh user, and the daily refresh cron entry. Nothing changes.

Exit status: 0 when every item is ok, 30 when one is not.`

  static override examples = ['sudo <%= config.bin %> misp status', '<%= config.bin %> misp status --host admin@192.0.2.10 --json']

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<MispStatusReport> {
    const {flags} = await this.parse(MispStatus)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('misp-status')
    const target = await this.openTarget(values, log)

    let report: MispStatusReport
    try {
      this.progress(`Checking MISP from ${target.name}...`)
      report = await mispStatus(target, {redactor: this.redactor, log})
    } finally {
      await target.close()
    }

    this.print(renderStatus(report))
    if (report.failed > 0) process.exitCode = ExitCode.mispFailed
    return report
  }
}

export function renderStatus(report: MispStatusReport): string {
  const width = Math.max(...report.items.map((item) => item.title.length))
  const lines = [`MISP status on ${report.target}${report.url ? ` (${report.url})` : ''}`, '']
  for (const item of report.items) {
    lines.push(`  ${(item.ok ? 'ok' : 'FAILED').padEnd(6)}  ${item.title.padEnd(width)}  ${item.found}`)
    if (item.fix && !item.ok) lines.push(`  ${''.padEnd(6)}  ${''.padEnd(width)}  fix: ${item.fix}`)
  }

  lines.push('', report.failed === 0 ? 'Every item is ok.' : `${report.failed} item(s) failed.`)
  return lines.join('\n')
}
