import {readFileSync} from 'node:fs'

import {BaseCommand, CONNECTION_SETTINGS, settingFlags} from '../cli/base-command.js'
import {ExitCode, InvalidInputError} from '../errors.js'
import {MispFacts} from '../misp/run-state.js'
import {formatHostSpec} from '../settings/host.js'
import type {MispOptionsInput} from '../misp/options.js'
import {runPlan, type PlanRunResult} from '../plan/runner.js'
import type {StepResult} from '../plan/step.js'
import {setupSteps} from '../setup/steps.js'
import {renderSummary, type SetupSummary} from '../setup/summary.js'
import {WAZUH_PORTS} from '../steps/preflight.js'
import {WazuhInstallFacts} from '../steps/wazuh-install.js'
import type {Target} from '../target/target.js'
import {createProgress} from '../ui/progress.js'

const SETTINGS = [
  ...CONNECTION_SETTINGS,
  'dryRun',
  'ignoreRequirements',
  'skipMisp',
  'mispUrl',
  'mispAdminKeyFile',
  'mispCaFile',
  'mispHost',
  'mispServerName',
  'mispHttpPort',
  'mispHttpsPort',
  'mispDockerDir',
  'mispDockerRepo',
  'mispDockerCommit',
  'mispFeeds',
  'mispTlsVerify',
  'skipWazuhInstall',
  'wazuhVersion',
  'wazuhDashboardPort',
  'ruleIdBase',
] as const

export interface SetupResult extends PlanRunResult {
  target: string
  summary: SetupSummary
}

export default class Setup extends BaseCommand<SetupResult> {
  static override summary = 'Provision MISP and Wazuh on a server and wire MISP into Wazuh.'

  static override description = `Runs, in order: preflight, Docker Engine, MISP (misp-docker) with a verifiable TLS certificate,
feeds, warninglists, a dedicated MISP user and auth key for Wazuh, the daily feed refresh, the
Wazuh all-in-one install, the custom-misp integration, the Wazuh configuration (ossec.conf,
local_rules.xml, misp.xml) and a checked manager restart. Every step checks first and changes
only what differs, so a second run changes nothing. Files are backed up before they change.

--dry-run prints the plan with diffs and exits 0 when nothing would change, 2 when changes are
pending. A failed step stops the run; run setup again to resume.`

  static override examples = [
    'sudo <%= config.bin %> setup --yes',
    '<%= config.bin %> setup --host admin@192.0.2.10 --identity ~/.ssh/id_ed25519 --dry-run',
    '<%= config.bin %> setup --host root@192.0.2.10 --misp-url https://misp.example.org --misp-admin-key-file ./misp-admin.key --misp-ca-file ./misp-ca.pem',
  ]

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<SetupResult> {
    const {flags} = await this.parse(Setup)
    const {values} = await this.resolve(flags, SETTINGS)
    if (values.mispUrl && values.mispHost) throw new InvalidInputError('--misp-url and --misp-host exclude each other: one uses an existing MISP, the other installs one on a second host.')
    if (values.mispUrl && !values.mispAdminKeyFile) throw new InvalidInputError('--misp-url needs --misp-admin-key-file: a file holding an admin auth key of that MISP.', 'Create an auth key for a MISP admin, save it in a file only you can read, and pass its path.')
    if (!values.skipMisp && !values.mispUrl && !values.mispHost) checkPortClashes(values.mispHttpPort ?? 8080, values.mispHttpsPort ?? 8443, values.wazuhDashboardPort ?? 443)
    const adminKey = values.mispAdminKeyFile ? readLocalFile(values.mispAdminKeyFile, '--misp-admin-key-file').trim() : undefined
    const caPem = values.mispCaFile ? readLocalFile(values.mispCaFile, '--misp-ca-file') : undefined
    this.redactor.register(adminKey, 'misp-admin-key')

    const log = this.openRunLog('setup')
    const target = await this.openTarget(values, log)
    let mispTarget: Target | undefined
    try {
      if (values.mispHost) mispTarget = await this.openTarget({...values, host: values.mispHost}, log)
      const serverName = values.mispServerName ?? (await addressOf(mispTarget ?? target, (values.mispHost ?? values.host)?.host))
      const misp: MispOptionsInput | undefined = values.skipMisp
        ? undefined
        : {
            serverName,
            httpPort: values.mispHttpPort,
            httpsPort: values.mispHttpsPort,
            installDir: values.mispDockerDir,
            repositoryUrl: values.mispDockerRepo,
            commit: values.mispDockerCommit,
            feeds: values.mispFeeds,
            existingUrl: values.mispUrl,
            existingAdminKey: adminKey,
            existingCaPem: caPem,
            // Pinning a certificate that no person has checked needs an explicit --yes, in scripts too.
            assumeYes: Boolean(flags.yes),
            confirmPin: this.isInteractive(flags) ? confirm : undefined,
          }

      const steps = setupSteps({
        preflight: {
          mispHttpPort: values.mispHttpPort ?? 8080,
          mispHttpsPort: values.mispHttpsPort ?? 8443,
          wazuhDashboardPort: values.wazuhDashboardPort ?? 443,
          mispDockerDir: values.mispDockerDir ?? '/opt/misp-docker',
          skipMisp: values.skipMisp || Boolean(values.mispUrl) || Boolean(values.mispHost),
          ignoreRequirements: values.ignoreRequirements,
        },
        misp,
        ...(mispTarget ? {mispTarget} : {}),
        wazuhInstall: values.skipWazuhInstall
          ? undefined
          : {
              version: values.wazuhVersion ?? '4.12',
              dashboardPort: values.wazuhDashboardPort ?? 443,
              ignoreRequirements: values.ignoreRequirements ?? false,
              workDir: '/var/lib/mispwazuh/wazuh-install',
              credentialsFile: '/etc/mispwazuh/wazuh-credentials',
            },
        ruleIdBase: values.ruleIdBase ?? 100_600,
        verifyTls: values.mispTlsVerify ?? true,
        redactor: this.redactor,
      })

      const dryRun = values.dryRun ?? false
      this.progress(`${dryRun ? 'Planning' : 'Running'} setup on ${target.name}${mispTarget ? ` (MISP on ${mispTarget.name})` : ''}; log: ${log.file}`)
      const mode = this.jsonEnabled() ? 'silent' : process.stderr.isTTY && !process.env.CI ? 'tree' : 'plain'
      const progress = await createProgress(steps, {mode, redactor: this.redactor})
      const facts = new Map<string, unknown>()
      const interrupt = this.stopOnInterrupt()
      const result = await runPlan({steps, dryRun, signal: interrupt.signal, context: {target, log, redactor: this.redactor, dryRun, facts}, onEvent: (event) => progress.onEvent(event)})
      interrupt.release()
      await progress.finish()

      const summary: SetupSummary = {
        target: target.name,
        dryRun,
        mispUrl: facts.get(MispFacts.url) as string | undefined,
        mispCredentialsFile: facts.get(MispFacts.credentialsFile) as string | undefined,
        wazuhCredentialsFile: facts.get(WazuhInstallFacts.credentialsFile) as string | undefined,
        dashboardUrl: dashboardUrl(values.host?.host ?? serverName, facts.get(WazuhInstallFacts.dashboardPort) as number | undefined),
        wazuhVersion: facts.get(WazuhInstallFacts.version) as string | undefined,
        logFile: log.file,
        hostFlags: values.host ? [`--host ${formatHostSpec(values.host)}`, values.identity ? `--identity ${values.identity}` : '', values.knownHosts ? `--known-hosts ${values.knownHosts}` : ''].filter(Boolean).join(' ') : '',
      }
      this.print(renderSummary(result, summary))
      process.exitCode = exitCodeFor(result)
      return {...result, target: target.name, summary}
    } finally {
      await target.close()
      await mispTarget?.close()
    }
  }
}

/** Rejects MISP ports that collide with each other or with a port Wazuh uses on the same host. */
function checkPortClashes(mispHttp: number, mispHttps: number, dashboard: number): void {
  const wazuh = new Map<number, string>([[dashboard, 'the Wazuh dashboard (--wazuh-dashboard-port)'], ...Object.entries(WAZUH_PORTS).map(([port, use]) => [Number(port), use] as [number, string])])
  const problems: string[] = []
  if (mispHttp === mispHttps) problems.push(`--misp-http-port and --misp-https-port are both ${mispHttp}.`)
  for (const [flag, port] of [['--misp-http-port', mispHttp], ['--misp-https-port', mispHttps]] as const) {
    const use = wazuh.get(port)
    if (use) problems.push(`${flag} ${port} is the port of ${use} on the same host.`)
  }

  if (problems.length > 0) throw new InvalidInputError(problems.join('\n'), 'Choose MISP ports that no other service on the host uses; the defaults are 8080 and 8443.')
}

function exitCodeFor(result: PlanRunResult): number {
  if (result.interrupted) return ExitCode.interrupted
  if (result.failed) return result.failed.error?.exitCode ?? ExitCode.failed
  if (result.dryRun && result.counts.pending > 0) return ExitCode.changesPending
  return ExitCode.ok
}

function readLocalFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new InvalidInputError(`Cannot read ${file} given with ${flag}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`)
  }
}

async function confirm(question: string): Promise<boolean> {
  const prompts = await import('@inquirer/prompts')
  return prompts.confirm({message: question, default: false}, {output: process.stderr})
}

/** Returns the address Wazuh uses to reach MISP when no name is given: the SSH host, or the target's first address. */
async function addressOf(target: Target, sshHost: string | undefined): Promise<string> {
  if (sshHost) return sshHost
  const addresses = await target.exec(['hostname', '-I'], {allowExitCodes: 'any'})
  const first = addresses.stdout.trim().split(/\s+/)[0]
  if (addresses.exitCode === 0 && first) return first
  const name = await target.exec(['hostname', '-f'], {allowExitCodes: 'any'})
  return name.stdout.trim() || 'localhost'
}

function dashboardUrl(host: string, port: number | undefined): string | undefined {
  if (port === undefined) return undefined
  const name = host.includes(':') ? `[${host}]` : host
  return port === 443 ? `https://${name}` : `https://${name}:${port}`
}

export type {StepResult}
