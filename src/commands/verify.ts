import {Flags} from '@oclif/core'

import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../cli/base-command.js'
import {ExitCode} from '../errors.js'
import type {Target} from '../target/target.js'
import {DEFAULT_WAZUH_DIR} from '../wazuh/manager.js'
import {renderVerifyReport} from '../verify/render.js'
import {runVerify, type VerifyReport} from '../verify/run.js'

const SETTINGS = [...CONNECTION_SETTINGS, 'mispHost', 'wazuhDir', 'canary', 'canaryTimeout'] as const

export default class Verify extends BaseCommand<VerifyReport> {
  static override summary = 'Prove the MISP to Wazuh chain end to end, and name the hop that is broken.'

  static override description = `Checks each hop in order: MISP reachable over verified TLS (from here and from the manager
as user wazuh), the Wazuh auth key, feeds and warninglists, the manager and its configuration, the
integration block, script and config file, the Sysmon rule levels, misp.xml and the self-test rule,
recent integration errors, and agents sending Sysmon events. Then a canary: a MISP event with two
unique domains, a self-test event and a Sysmon DNS event sent into the manager's queue socket, each
followed until the integration's result alert appears in alerts.json. The canary event is deleted
at the end. Run it on the manager host, or against it with --host. When setup installed MISP on a
second host (--misp-host), give the same --misp-host: the MISP keys and CA are read there.

Exit status: 0 when every hop passes, 1 when any hop fails.`

  static override examples = [
    '<%= config.bin %> verify',
    '<%= config.bin %> verify --host root@192.0.2.20 --json',
    '<%= config.bin %> verify --host admin@192.0.2.20 --no-canary',
    '<%= config.bin %> verify --host root@192.0.2.20 --misp-host root@192.0.2.30',
  ]

  static override flags = {
    ...settingFlags(SETTINGS),
    'misp-host': Flags.string({description: 'Host (user@host[:port]) where setup installed MISP with --misp-host; the MISP keys, CA and credentials file are read there. [env: MISPWAZUH_MISP_HOST]', helpValue: 'root@192.0.2.30'}),
  }

  async run(): Promise<VerifyReport> {
    const {flags} = await this.parse(Verify)
    const {values} = await this.resolve(flags, SETTINGS)
    const log = this.openRunLog('verify')
    const target = await this.openTarget(values, log)

    let report: VerifyReport
    let mispTarget: Target | undefined
    try {
      if (values.mispHost) mispTarget = await this.openTarget({...values, host: values.mispHost}, log)
      this.progress(`Verifying ${target.name}${mispTarget ? ` (MISP files on ${mispTarget.name})` : ''}...`)
      report = await runVerify(
        {target, mispTarget: mispTarget ?? target, log, redactor: this.redactor, progress: (message) => this.progress(`  ${message}`), wazuhDir: values.wazuhDir ?? DEFAULT_WAZUH_DIR},
        {canary: values.canary ?? true, canaryTimeoutSeconds: values.canaryTimeout ?? 90},
      )
    } finally {
      await mispTarget?.close()
      await target.close()
    }

    this.print(renderVerifyReport(report))
    if (report.verdict === 'fail') process.exitCode = ExitCode.verifyFailed
    return report
  }
}
