import path from 'node:path/posix'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import type {Target} from '../target/target.js'
import {compareVersions, DEFAULT_WAZUH_DIR, readManagerFacts, wazuhPaths} from '../wazuh/manager.js'

/** Oldest manager whose integratord contract mispwazuh supports, and newest it was tested with. */
export const OLDEST_SUPPORTED_WAZUH = '4.7.0'
export const NEWEST_TESTED_WAZUH = '4.14.99'

export interface WazuhInstallOptions {
  /** major.minor (or major.minor.patch) of the installation assistant to download, e.g. 4.12. */
  version: string
  dashboardPort: number
  /** Pass -i to the installer, which then skips its hardware check. */
  ignoreRequirements: boolean
  /** Directory that keeps the installer and wazuh-install-files.tar (root only). */
  workDir: string
  /** Root-only file the generated Wazuh passwords are copied into. */
  credentialsFile: string
  wazuhDir?: string
  /** Seconds to wait for the installer; an all-in-one install downloads and configures three products. */
  installTimeoutSeconds?: number
}

export const WazuhInstallFacts = {
  /** string: version of the installed manager. */
  version: 'wazuh.version',
  /** boolean: this run installs Wazuh (or, in a dry run, would). */
  installing: 'wazuh.installing',
  /** string: root-only file with the Wazuh passwords. */
  credentialsFile: 'wazuh.credentialsFile',
  /** number: port of the Wazuh dashboard. */
  dashboardPort: 'wazuh.dashboardPort',
} as const

/** The installation assistant's log; it ends with the dashboard's admin password. */
export const INSTALL_LOG = '/var/log/wazuh-install.log'

export function installerUrl(version: string): string {
  const [major, minor] = version.split('.')
  return `https://packages.wazuh.com/${major}.${minor}/wazuh-install.sh`
}

/**
 * Installs Wazuh all-in-one (indexer, manager, dashboard) with the official installation
 * assistant, unless a manager is already there. The dashboard moves off 443 with `-p` when
 * asked, because the assistant aborts and rolls back when its port is taken.
 */
export function wazuhInstallStep(options: WazuhInstallOptions): Step {
  const wazuhDir = options.wazuhDir ?? DEFAULT_WAZUH_DIR
  return {
    id: 'wazuh-install',
    title: 'Wazuh all-in-one install',

    async check(context: StepContext): Promise<StepCheck> {
      const facts = await readManagerFacts(context.target, wazuhDir)
      context.facts.set(WazuhInstallFacts.dashboardPort, options.dashboardPort)
      context.facts.set(WazuhInstallFacts.credentialsFile, options.credentialsFile)
      if (facts.installed) {
        context.facts.set(WazuhInstallFacts.version, facts.version)
        context.facts.set(WazuhInstallFacts.installing, false)
        const log = await context.target.stat(INSTALL_LOG)
        if (log && (log.mode & 0o077) !== 0) {
          return {status: 'change', reason: `${INSTALL_LOG} contains the generated admin password and others can read it (mode 0${log.mode.toString(8)})`, changes: [{kind: 'command', summary: `restrict ${INSTALL_LOG} to root (0600)`, argv: [['chmod', '600', INSTALL_LOG]]}]}
        }

        return {status: 'ok', reason: `Wazuh manager ${facts.version ?? '(unknown version)'} is installed in ${wazuhDir}`, changes: [], warnings: versionWarnings(facts.version)}
      }

      context.facts.set(WazuhInstallFacts.installing, true)
      const installer = path.join(options.workDir, 'wazuh-install.sh')
      const argv = ['bash', installer, '-a', ...(options.dashboardPort === 443 ? [] : ['-p', String(options.dashboardPort)]), ...(options.ignoreRequirements ? ['-i'] : [])]
      return {
        status: 'change',
        reason: `no Wazuh manager in ${wazuhDir}; install Wazuh ${options.version} all-in-one with the dashboard on port ${options.dashboardPort}`,
        changes: [
          {kind: 'command', summary: `download ${installerUrl(options.version)} to ${installer}`, argv: [['curl', '-sSfL', '--proto', '=https', '-o', installer, installerUrl(options.version)]]},
          {kind: 'command', summary: `run the Wazuh installation assistant in ${options.workDir} (takes several minutes)`, argv: [argv]},
          {kind: 'file', summary: `copy the generated Wazuh passwords from wazuh-install-files.tar into ${options.credentialsFile} (root only, 0600)`, path: options.credentialsFile},
        ],
      }
    },

    async apply(context: StepContext, check: StepCheck): Promise<void> {
      const {target} = context
      if (!context.facts.get(WazuhInstallFacts.installing)) {
        await target.chmod(INSTALL_LOG, 0o600)
        return
      }

      const installer = path.join(options.workDir, 'wazuh-install.sh')
      await target.mkdir(options.workDir, {mode: 0o700, owner: 'root', group: 'root'})

      context.progress(`downloading ${installerUrl(options.version)}`)
      await target.exec(['curl', '-sSfL', '--proto', '=https', '--retry', '3', '-o', installer, installerUrl(options.version)], {timeoutMs: 300_000})

      context.progress('running the Wazuh installation assistant (several minutes)')
      const argv = check.changes[1]?.argv?.[0] ?? ['bash', installer, '-a']
      const result = await target.exec(argv, {
        cwd: options.workDir,
        timeoutMs: (options.installTimeoutSeconds ?? 3600) * 1000,
        allowExitCodes: 'any',
        onLine: (line) => {
          const text = line.trim()
          if (text) context.progress(text)
        },
      })
      if (result.exitCode !== 0) {
        const tail = (result.stdout + result.stderr).trim().split('\n').slice(-8).join('\n')
        throw new MispwazuhError(`The Wazuh installation assistant failed with exit status ${result.exitCode}:\n${tail}`, {
          code: 'wazuh_install_failed',
          exitCode: ExitCode.commandFailed,
          fix: `Read /var/log/wazuh-install.log on ${target.name}. The assistant rolls back a failed install, so fix the cause (a busy port, too little memory: --ignore-requirements) and run setup again.`,
        })
      }

      // The assistant logs the summary, admin password included, to a file others can read.
      if (await target.exists(INSTALL_LOG)) await target.chmod(INSTALL_LOG, 0o600)
      await saveWazuhPasswords(context, options)
      const facts = await readManagerFacts(target, wazuhDir)
      context.facts.set(WazuhInstallFacts.version, facts.version)
      context.progress(`waiting for the Wazuh manager ${facts.version ?? ''} and its API`)
      await waitForManager(target, wazuhDir, 180_000, false)
    },
  }
}

function versionWarnings(version: string | undefined): string[] {
  if (!version) return ['the Wazuh version could not be read from wazuh-control info']
  if (compareVersions(version, OLDEST_SUPPORTED_WAZUH) < 0) return [`Wazuh ${version} is older than ${OLDEST_SUPPORTED_WAZUH}, which mispwazuh does not support; upgrade the manager`]
  if (compareVersions(version, NEWEST_TESTED_WAZUH) > 0) return [`Wazuh ${version} is newer than the versions mispwazuh was tested with (4.7 to 4.14)`]
  return []
}

/**
 * Copies wazuh-passwords.txt out of wazuh-install-files.tar into a root-only file. The tar
 * stays where the installer wrote it, because it also contains the certificates the user may need.
 */
export async function saveWazuhPasswords(context: StepContext, options: Pick<WazuhInstallOptions, 'workDir' | 'credentialsFile'>): Promise<void> {
  const tar = path.join(options.workDir, 'wazuh-install-files.tar')
  const listing = await context.target.exec(['tar', '-xOf', tar, 'wazuh-install-files/wazuh-passwords.txt'], {allowExitCodes: 'any', quiet: true})
  if (listing.exitCode !== 0) {
    context.log.warn(`could not read wazuh-passwords.txt from ${tar}: ${listing.stderr.trim()}`)
    return
  }

  const passwords = parseWazuhPasswords(listing.stdout)
  for (const entry of passwords) context.redactor.register(entry.password, `wazuh-${entry.user}-password`)
  await context.target.mkdir(path.dirname(options.credentialsFile), {mode: 0o700, owner: 'root', group: 'root'})
  const lines = [
    '# Wazuh passwords generated by the installation assistant (copied from wazuh-install-files.tar by mispwazuh).',
    ...passwords.map((entry) => `${entry.kind}_${entry.user}=${entry.password}`),
    '',
  ]
  await context.target.writeFile(options.credentialsFile, lines.join('\n'), {mode: 0o600, owner: 'root', group: 'root'})
}

export interface WazuhPassword {
  kind: 'indexer' | 'api'
  user: string
  password: string
}

/** Parses wazuh-passwords.txt: `indexer_username:`/`indexer_password:` and `api_username:`/`api_password:` pairs. */
export function parseWazuhPasswords(text: string): WazuhPassword[] {
  const entries: WazuhPassword[] = []
  let pending: {kind: 'indexer' | 'api'; user: string} | undefined
  for (const line of text.split('\n')) {
    const match = /^\s*(indexer|api)_(username|password):\s*'?(.*?)'?\s*$/.exec(line)
    if (!match) continue
    const [, kind, field, value = ''] = match as unknown as [string, 'indexer' | 'api', string, string]
    if (field === 'username') pending = {kind, user: value}
    else if (pending && pending.kind === kind) {
      entries.push({...pending, password: value})
      pending = undefined
    }
  }

  return entries
}

/**
 * Daemons the integration needs. wazuh-integratord exits at start when ossec.conf has no
 * `<integration>` ("Remote integrations not configured. Clean exit."), so it only counts once
 * the integration is configured.
 */
export function requiredDaemons(withIntegration: boolean): string[] {
  return ['wazuh-analysisd', 'wazuh-remoted', ...(withIntegration ? ['wazuh-integratord'] : [])]
}

/** Required daemons that `wazuh-control status` does not report running, from its output. */
export function stoppedDaemons(statusOutput: string, withIntegration = true): string[] {
  return requiredDaemons(withIntegration).filter((daemon) => !new RegExp(`^${daemon} is running`, 'm').test(statusOutput))
}

/**
 * Waits until the manager's daemons run and its API responds on the port in api.yaml. The API
 * check sends no credentials and only needs an HTTP status, so it does not verify the API's
 * self-signed certificate.
 */
export async function waitForManager(target: Target, wazuhDir: string, timeoutMs: number, withIntegration = true): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const port = await apiPort(target, wazuhDir)
  let last = ''
  while (Date.now() < deadline) {
    const status = await target.exec([wazuhPaths(wazuhDir).wazuhControl, 'status'], {allowExitCodes: 'any', timeoutMs: 30_000})
    const stopped = stoppedDaemons(status.stdout, withIntegration)
    if (stopped.length === 0) {
      const api = await target.exec(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `https://127.0.0.1:${port}/`], {allowExitCodes: 'any', timeoutMs: 15_000})
      if (api.exitCode === 0 && /^[1-5]\d\d$/.test(api.stdout.trim())) return
      last = `the Wazuh API on port ${port} does not answer yet`
    } else {
      last = `not running: ${stopped.join(', ')}`
    }

    await new Promise((resolve) => setTimeout(resolve, 1000))
  }

  throw new MispwazuhError(`The Wazuh manager did not come up within ${Math.round(timeoutMs / 1000)} s (${last}).`, {
    code: 'manager_not_running',
    exitCode: ExitCode.commandFailed,
    fix: `Read ${path.join(wazuhDir, 'logs', 'ossec.log')} on ${target.name}.`,
  })
}

async function apiPort(target: Target, wazuhDir: string): Promise<number> {
  const file = path.join(wazuhDir, 'api', 'configuration', 'api.yaml')
  const result = await target.exec(['cat', '--', file], {allowExitCodes: 'any'})
  const match = /^port:\s*(\d+)\s*$/m.exec(result.stdout)
  return match ? Number(match[1]) : 55_000
}
