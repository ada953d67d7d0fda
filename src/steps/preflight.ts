import {userInfo} from 'node:os'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Step, StepCheck} from '../plan/step.js'
import type {Target} from '../target/target.js'
import {compareVersions} from '../wazuh/manager.js'

export type Verdict = 'ok' | 'warn' | 'blocking'

export interface PreflightItem {
  id: string
  title: string
  verdict: Verdict
  /** The finding in words: "Ubuntu 24.04.1 LTS", "2 cores". */
  found: string
  reason?: string
  fix?: string
}

export interface PreflightFacts {
  os: {id: string; versionId: string; prettyName: string}
  cpuCores: number
  memoryBytes: number
  diskFreeBytes: {root: number; var: number}
  user: {login: string; effectiveUid: number; viaSudo: boolean}
  listeningPorts: number[]
  docker: {engine?: string; compose?: string}
  wazuhManager: {version: string} | null
  mispDocker: boolean
  /** null when the host cannot tell (no timedatectl). */
  timeSynchronized: boolean | null
}

export interface PreflightOptions {
  mispHttpPort: number
  mispHttpsPort: number
  wazuhDashboardPort: number
  mispDockerDir: string
  /** Leave out the MISP checks (MISP elsewhere or already running). */
  skipMisp?: boolean
  ignoreRequirements?: boolean
}

export interface PreflightReport {
  target: string
  facts: PreflightFacts
  items: PreflightItem[]
  blocking: number
  warnings: number
}

const GIB = 1024 ** 3

/**
 * Limits for MISP and Wazuh all-in-one on one host. The Wazuh 4.12 installation assistant
 * refuses fewer than 2 cores or less than about 3.7 GB of memory; 4 cores, 8 GB and 50 GB free
 * are what the two products together run well on. The disk floor is an estimate: MISP's images
 * (about 3 GB), the Wazuh packages, and room for the indexer's first indexes.
 */
export const REQUIREMENTS = {
  minCores: 2,
  recommendedCores: 4,
  minMemoryBytes: 3.7e9,
  recommendedMemoryBytes: 8e9,
  minDiskBytes: 20 * GIB,
  recommendedDiskBytes: 50 * GIB,
}

const SUPPORTED_OS: Record<string, string[]> = {ubuntu: ['22.04', '24.04'], debian: ['12']}

/** Ports the Wazuh all-in-one install listens on, except the dashboard port which is a setting. */
export const WAZUH_PORTS: Record<number, string> = {
  1514: 'Wazuh agent connections',
  1515: 'Wazuh agent enrollment',
  1516: 'Wazuh cluster',
  55000: 'Wazuh server API',
  9200: 'Wazuh indexer',
  9300: 'Wazuh indexer cluster',
}

/** Reads the facts preflight judges. Read-only: nothing on the target changes. */
export async function gatherPreflightFacts(target: Target, options: Pick<PreflightOptions, 'mispDockerDir'>): Promise<PreflightFacts> {
  const osRelease = parseOsRelease(await readOptional(target, '/etc/os-release'))
  const cores = await target.exec(['nproc'], {allowExitCodes: 'any'})
  const meminfo = await readOptional(target, '/proc/meminfo')
  const memoryKib = Number(/^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo)?.[1] ?? 0)
  const df = await target.exec(['df', '-P', '-B1', '/', '/var'], {allowExitCodes: 'any'})
  const [rootFree = 0, varFree = rootFree] = df.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => Number(line.split(/\s+/)[3] ?? 0))
  const id = await target.exec(['id', '-u'], {allowExitCodes: 'any'})
  const login = target.name === 'local' ? (process.env.SUDO_USER ?? userInfo().username) : target.name.split('@')[0] ?? 'unknown'
  const viaSudo = 'useSudo' in target ? Boolean((target as {useSudo?: boolean}).useSudo) : Boolean(process.env.SUDO_USER)
  const tcp = `${await readOptional(target, '/proc/net/tcp')}\n${await readOptional(target, '/proc/net/tcp6')}`

  return {
    os: osRelease,
    cpuCores: Number(cores.stdout.trim()) || 0,
    memoryBytes: memoryKib * 1024,
    diskFreeBytes: {root: rootFree, var: varFree},
    user: {login, effectiveUid: Number(id.stdout.trim()), viaSudo},
    listeningPorts: parseListeningPorts(tcp),
    docker: await dockerVersions(target),
    wazuhManager: await wazuhManagerVersion(target),
    mispDocker: await target.exists(`${options.mispDockerDir}/docker-compose.yml`),
    timeSynchronized: await timeSynchronized(target),
  }
}

/** Judges the facts: each item ok, warn or blocking, with the reason and the fix. */
export function judgePreflight(target: string, facts: PreflightFacts, options: PreflightOptions): PreflightReport {
  const items: PreflightItem[] = []
  const soften = (verdict: Verdict): Verdict => (verdict === 'blocking' && options.ignoreRequirements ? 'warn' : verdict)
  const ignoredNote = options.ignoreRequirements ? ' (--ignore-requirements given)' : ''

  const supported = SUPPORTED_OS[facts.os.id]?.includes(facts.os.versionId) ?? false
  items.push({
    id: 'os',
    title: 'Operating system',
    verdict: supported ? 'ok' : soften('blocking'),
    found: facts.os.prettyName || `${facts.os.id} ${facts.os.versionId}`,
    ...(supported ? {} : {reason: `Supported: Ubuntu 22.04 and 24.04, Debian 12${ignoredNote}.`, fix: 'Use a supported release, or pass --ignore-requirements to try anyway.'}),
  })

  items.push(resourceItem('cpu', 'CPU cores', facts.cpuCores, `${facts.cpuCores} cores`, REQUIREMENTS.minCores, REQUIREMENTS.recommendedCores, (value) => `${value} cores`, soften, ignoredNote))
  items.push(resourceItem('memory', 'Memory', facts.memoryBytes, formatBytes(facts.memoryBytes), REQUIREMENTS.minMemoryBytes, REQUIREMENTS.recommendedMemoryBytes, formatBytes, soften, ignoredNote))
  items.push(resourceItem('disk-root', 'Free disk on /', facts.diskFreeBytes.root, formatBytes(facts.diskFreeBytes.root), REQUIREMENTS.minDiskBytes, REQUIREMENTS.recommendedDiskBytes, formatBytes, soften, ignoredNote))
  items.push(resourceItem('disk-var', 'Free disk on /var', facts.diskFreeBytes.var, formatBytes(facts.diskFreeBytes.var), REQUIREMENTS.minDiskBytes, REQUIREMENTS.recommendedDiskBytes, formatBytes, soften, ignoredNote))

  const root = facts.user.effectiveUid === 0
  items.push({
    id: 'privileges',
    title: 'Privileges',
    verdict: root ? 'ok' : 'blocking',
    found: describePrivileges(facts.user),
    ...(root ? {} : {reason: 'Installing Docker, MISP and Wazuh needs root.', fix: 'Run mispwazuh with sudo, or connect as a user with passwordless sudo.'}),
  })

  items.push(...portItems(facts, options))

  const engineMajor = Number(facts.docker.engine?.split('.')[0] ?? 0)
  const composeOk = facts.docker.compose !== undefined && compareVersions(facts.docker.compose, '2.17.0') >= 0
  if (!options.skipMisp) {
    const dockerOk = engineMajor >= 25 && composeOk
    items.push({
      id: 'docker',
      title: 'Docker Engine',
      verdict: dockerOk || facts.docker.engine === undefined ? 'ok' : 'warn',
      found: facts.docker.engine ? `Docker ${facts.docker.engine}, compose ${facts.docker.compose ?? 'missing'}` : 'not installed',
      reason: dockerOk ? 'present' : facts.docker.engine ? 'older than Docker Engine 25 with compose 2.17; setup replaces it with Docker\'s packages' : 'setup installs Docker Engine from Docker\'s apt repository',
    })
    items.push({id: 'misp-docker', title: 'misp-docker', verdict: 'ok', found: facts.mispDocker ? `present in ${options.mispDockerDir}` : 'not installed', reason: facts.mispDocker ? 'setup reuses it' : 'setup installs it'})
  }

  const wazuh = facts.wazuhManager
  const wazuhOld = wazuh !== null && compareVersions(wazuh.version, '4.7.0') < 0
  items.push({
    id: 'wazuh-manager',
    title: 'Wazuh manager',
    verdict: wazuhOld ? 'warn' : 'ok',
    found: wazuh ? `Wazuh ${wazuh.version}` : 'not installed',
    reason: describeManager(wazuh, wazuhOld),
    ...(wazuhOld ? {fix: 'Upgrade the Wazuh manager to 4.7 or later.'} : {}),
  })

  items.push({
    id: 'time',
    title: 'Time synchronisation',
    verdict: facts.timeSynchronized === true ? 'ok' : 'warn',
    found: describeClock(facts.timeSynchronized),
    ...(facts.timeSynchronized === true ? {} : {reason: 'Alert timestamps and TLS certificate checks need a correct clock.', fix: 'Enable NTP: timedatectl set-ntp true (systemd-timesyncd or chrony).'}),
  })

  return {
    target,
    facts,
    items,
    blocking: items.filter((item) => item.verdict === 'blocking').length,
    warnings: items.filter((item) => item.verdict === 'warn').length,
  }
}

export async function runPreflight(target: Target, options: PreflightOptions): Promise<PreflightReport> {
  return judgePreflight(target.name, await gatherPreflightFacts(target, options), options)
}

/** Preflight as the first step of setup: changes nothing, fails the run on a blocking item. */
export function preflightStep(options: PreflightOptions): Step {
  return {
    id: 'preflight',
    title: 'Preflight checks',
    async check(context): Promise<StepCheck> {
      const report = await runPreflight(context.target, options)
      context.facts.set('preflight', report)
      const blocking = report.items.filter((item) => item.verdict === 'blocking')
      if (blocking.length > 0) {
        throw new MispwazuhError(`${context.target.name} does not meet the requirements:\n${blocking.map((item) => `  ${item.title}: ${item.found}. ${item.reason ?? ''} ${item.fix ?? ''}`.trimEnd()).join('\n')}`, {
          code: 'requirements_not_met',
          exitCode: ExitCode.requirementsNotMet,
          fix: 'Fix the items above, or pass --ignore-requirements for resource and OS checks.',
        })
      }

      const warnings = report.items.filter((item) => item.verdict === 'warn').map((item) => `${item.title}: ${item.found}${item.reason ? ` (${item.reason})` : ''}`)
      return {status: 'ok', reason: `${report.facts.os.prettyName}, ${report.facts.cpuCores} cores, ${formatBytes(report.facts.memoryBytes)} memory`, changes: [], warnings}
    },
    async apply() {},
  }
}

function describePrivileges(user: PreflightFacts['user']): string {
  if (user.effectiveUid !== 0) return `${user.login} (uid ${user.effectiveUid}) without root`
  return user.viaSudo ? `${user.login} with sudo` : 'root'
}

function describeManager(manager: PreflightFacts['wazuhManager'], old: boolean): string {
  if (!manager) return 'setup installs it'
  return old ? 'older than 4.7, which mispwazuh does not support' : 'setup configures it'
}

function describeClock(synchronized: boolean | null): string {
  if (synchronized === null) return 'unknown (no timedatectl)'
  return synchronized ? 'synchronised' : 'not synchronised'
}

function resourceItem(id: string, title: string, value: number, found: string, minimum: number, recommended: number, format: (value: number) => string, soften: (verdict: Verdict) => Verdict, ignoredNote: string): PreflightItem {
  if (value < minimum) {
    return {id, title, verdict: soften('blocking'), found, reason: `Below the minimum of ${format(minimum)} for MISP and Wazuh on one host${ignoredNote}.`, fix: `Give the host at least ${format(recommended)}, or pass --ignore-requirements to try anyway.`}
  }

  if (value < recommended) {
    return {id, title, verdict: 'warn', found, reason: `Below the recommended ${format(recommended)} for MISP and Wazuh on one host.`, fix: `Give the host ${format(recommended)} or more for steady operation.`}
  }

  return {id, title, verdict: 'ok', found}
}

function portItems(facts: PreflightFacts, options: PreflightOptions): PreflightItem[] {
  const listening = new Set(facts.listeningPorts)
  const wanted: Array<{port: number; use: string; owner: 'wazuh' | 'misp'; flag?: string}> = [
    {port: options.wazuhDashboardPort, use: 'Wazuh dashboard', owner: 'wazuh', flag: '--wazuh-dashboard-port'},
    ...Object.entries(WAZUH_PORTS).map(([port, use]) => ({port: Number(port), use, owner: 'wazuh' as const})),
  ]
  if (!options.skipMisp) {
    wanted.push({port: options.mispHttpPort, use: 'MISP HTTP', owner: 'misp', flag: '--misp-http-port'}, {port: options.mispHttpsPort, use: 'MISP HTTPS', owner: 'misp', flag: '--misp-https-port'})
  }

  return wanted.map(({port, use, owner, flag}) => {
    const busy = listening.has(port)
    const expected = (owner === 'wazuh' && facts.wazuhManager !== null) || (owner === 'misp' && facts.mispDocker)
    if (!busy) return {id: `port-${port}`, title: `Port ${port} (${use})`, verdict: 'ok', found: 'free'}
    if (expected) return {id: `port-${port}`, title: `Port ${port} (${use})`, verdict: 'ok', found: 'in use', reason: `${owner === 'wazuh' ? 'Wazuh' : 'misp-docker'} is installed and listens there`}
    return {
      id: `port-${port}`,
      title: `Port ${port} (${use})`,
      verdict: 'blocking',
      found: 'in use',
      reason: `Another program listens on port ${port}, which the ${use} needs.`,
      fix: `Find it with \`ss -ltnp 'sport = :${port}'\` and stop it${flag ? `, or choose another port with ${flag}` : ''}.`,
    }
  })
}

/** Parses /proc/net/tcp and tcp6: the local ports of sockets in state LISTEN (0A). */
export function parseListeningPorts(text: string): number[] {
  const ports = new Set<number>()
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields[3] !== '0A') continue
    const port = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16)
    if (Number.isInteger(port)) ports.add(port)
  }

  return [...ports].sort((a, b) => a - b)
}

export function parseOsRelease(text: string): PreflightFacts['os'] {
  const value = (key: string) => new RegExp(`^${key}=("?)(.*)\\1$`, 'm').exec(text)?.[2] ?? ''
  return {id: value('ID'), versionId: value('VERSION_ID'), prettyName: value('PRETTY_NAME')}
}

export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`
  return `${Math.round(bytes / 1024 ** 2)} MiB`
}

async function readOptional(target: Target, path: string): Promise<string> {
  const result = await target.exec(['cat', '--', path], {allowExitCodes: 'any', quiet: true})
  return result.exitCode === 0 ? result.stdout : ''
}

async function dockerVersions(target: Target): Promise<PreflightFacts['docker']> {
  const engine = await target.exec(['docker', 'version', '--format', '{{.Server.Version}}'], {allowExitCodes: 'any', timeoutMs: 20_000})
  const compose = await target.exec(['docker', 'compose', 'version', '--short'], {allowExitCodes: 'any', timeoutMs: 20_000})
  const clean = (text: string) => /^v?(\d+\.\d+[\w.+-]*)/.exec(text.trim())?.[1]
  return {
    ...(engine.exitCode === 0 && clean(engine.stdout) ? {engine: clean(engine.stdout)} : {}),
    ...(compose.exitCode === 0 && clean(compose.stdout) ? {compose: clean(compose.stdout)} : {}),
  }
}

async function wazuhManagerVersion(target: Target): Promise<{version: string} | null> {
  const info = await target.exec(['/var/ossec/bin/wazuh-control', 'info'], {allowExitCodes: 'any'})
  const match = /WAZUH_VERSION="?v?([\d.]+)"?/.exec(info.stdout)
  if (info.exitCode === 0 && match?.[1]) return {version: match[1]}
  const dpkg = await target.exec(['dpkg-query', '-W', '-f', '${Status}|${Version}', 'wazuh-manager'], {allowExitCodes: 'any'})
  const [status = '', version = ''] = dpkg.stdout.split('|')
  if (dpkg.exitCode === 0 && status.includes('installed')) return {version: version.replace(/-\d+$/, '')}
  return null
}

async function timeSynchronized(target: Target): Promise<boolean | null> {
  const result = await target.exec(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value'], {allowExitCodes: 'any'})
  if (result.exitCode !== 0) return null
  return result.stdout.trim() === 'yes'
}
