import {MispwazuhError, ExitCode} from '../errors.js'
import type {Change, Step, StepCheck, StepContext} from '../plan/step.js'
import type {Target} from '../target/target.js'
import {compareVersions} from '../wazuh/manager.js'

/** misp-docker's compose file uses `start_interval`, which needs Docker Engine 25 and Compose 2.17. */
export const MIN_DOCKER_ENGINE = '25.0.0'
export const MIN_DOCKER_COMPOSE = '2.17.0'

/** Distribution packages that conflict with Docker's own, as Docker's install guide for Debian and Ubuntu lists them. */
export const CONFLICTING_PACKAGES = ['docker.io', 'docker-doc', 'docker-compose', 'docker-compose-v2', 'podman-docker', 'containerd', 'runc']
export const DOCKER_PACKAGES = ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin']

/** Base of Docker's apt repositories; `<base>/<ubuntu|debian>/gpg` is the signing key. */
export const DOCKER_REPOSITORY_URL = 'https://download.docker.com/linux'

const KEYRING = '/etc/apt/keyrings/docker.asc'
const SOURCES_FILE = '/etc/apt/sources.list.d/docker.list'
const APT_ENV = {DEBIAN_FRONTEND: 'noninteractive'}

export interface DockerVersions {
  engine: string | undefined
  compose: string | undefined
}

/** Reads the Docker Engine and Compose plugin versions; undefined parts are missing or not running. */
export async function dockerVersions(target: Target): Promise<DockerVersions> {
  const engine = await target.exec(['docker', 'version', '--format', '{{.Server.Version}}'], {allowExitCodes: 'any', timeoutMs: 30_000})
  const compose = await target.exec(['docker', 'compose', 'version', '--short'], {allowExitCodes: 'any', timeoutMs: 30_000})
  return {
    engine: engine.exitCode === 0 ? cleanVersion(engine.stdout) : undefined,
    compose: compose.exitCode === 0 ? cleanVersion(compose.stdout) : undefined,
  }
}

export {compareVersions}

export function dockerIsSufficient(versions: DockerVersions): boolean {
  return versions.engine !== undefined && versions.compose !== undefined && compareVersions(versions.engine, MIN_DOCKER_ENGINE) >= 0 && compareVersions(versions.compose, MIN_DOCKER_COMPOSE) >= 0
}

/**
 * Docker Engine with the Compose plugin, from Docker's apt repository (Debian and Ubuntu). A host
 * that already has Engine >= 25 and Compose >= 2.17 is left alone.
 */
export function dockerEngineStep(options: {repositoryUrl?: string} = {}): Step {
  const repositoryUrl = (options.repositoryUrl ?? DOCKER_REPOSITORY_URL).replace(/\/+$/, '')

  return {
    id: 'misp.docker-engine',
    title: 'Docker Engine and Compose',

    async check(context: StepContext): Promise<StepCheck> {
      const versions = await dockerVersions(context.target)
      if (dockerIsSufficient(versions)) {
        return {status: 'ok', reason: `Docker Engine ${versions.engine} and Compose ${versions.compose} are installed`, changes: []}
      }

      const found = versions.engine ? `Docker Engine ${versions.engine}${versions.compose ? `, Compose ${versions.compose}` : ', no Compose plugin'}` : 'no running Docker Engine'
      const os = await readOsRelease(context.target)
      return {
        status: 'change',
        reason: `${found}; misp-docker needs Engine >= 25 and Compose >= 2.17`,
        changes: installChanges(os, repositoryUrl),
      }
    },

    async apply(context: StepContext): Promise<void> {
      const {target} = context
      const os = await readOsRelease(context.target)

      context.progress('removing conflicting packages')
      const installed = await installedPackages(target, CONFLICTING_PACKAGES)
      if (installed.length > 0) await target.exec(['apt-get', 'remove', '-y', ...installed], {env: APT_ENV, timeoutMs: 600_000})

      context.progress('adding Docker\'s apt repository')
      await target.exec(['apt-get', 'update'], {env: APT_ENV, timeoutMs: 600_000})
      await target.exec(['apt-get', 'install', '-y', 'ca-certificates', 'curl'], {env: APT_ENV, timeoutMs: 600_000})
      await target.exec(['install', '-m', '0755', '-d', '/etc/apt/keyrings'])
      await target.exec(['curl', '-fsSL', `${repositoryUrl}/${os.id}/gpg`, '-o', KEYRING], {timeoutMs: 120_000})
      await target.chmod(KEYRING, 0o644)
      const architecture = (await target.exec(['dpkg', '--print-architecture'])).stdout.trim()
      await target.writeFile(SOURCES_FILE, sourcesLine(os, architecture, repositoryUrl), {mode: 0o644, owner: 'root', group: 'root'})

      context.progress('installing Docker Engine')
      await target.exec(['apt-get', 'update'], {env: APT_ENV, timeoutMs: 600_000})
      await target.exec(['apt-get', 'install', '-y', ...DOCKER_PACKAGES], {env: APT_ENV, timeoutMs: 1_800_000, onLine: (line) => context.progress(line)})
      await target.exec(['systemctl', 'enable', '--now', 'docker'], {timeoutMs: 120_000})

      const versions = await dockerVersions(target)
      if (!dockerIsSufficient(versions)) {
        throw new MispwazuhError(
          `Docker was installed on ${target.name}, but \`docker version\` reports Engine ${versions.engine ?? 'not running'} and Compose ${versions.compose ?? 'missing'}.`,
          {code: 'docker_install_failed', exitCode: ExitCode.commandFailed, fix: 'Run `systemctl status docker` and `journalctl -u docker` on the host to see why the engine does not run.'},
        )
      }
    },
  }
}

export interface OsRelease {
  /** `ubuntu` or `debian`: the path segment of Docker's repository. */
  id: 'ubuntu' | 'debian'
  codename: string
}

export async function readOsRelease(target: Target): Promise<OsRelease> {
  const text = await target.readText('/etc/os-release')
  const values = new Map(text.split('\n').flatMap((line) => {
    const match = /^([A-Z_]+)=("?)(.*)\2$/.exec(line.trim())
    return match ? [[match[1]!, match[3]!] as const] : []
  }))
  const id = values.get('ID')
  const codename = values.get('VERSION_CODENAME') ?? values.get('UBUNTU_CODENAME')
  if ((id !== 'ubuntu' && id !== 'debian') || !codename) {
    throw new MispwazuhError(`Cannot install Docker on ${target.name}: /etc/os-release has ID=${id ?? 'missing'}, VERSION_CODENAME=${codename ?? 'missing'}; Docker's apt repository is used only on Ubuntu and Debian.`, {
      code: 'unsupported_os',
      exitCode: ExitCode.requirementsNotMet,
      fix: 'Install Docker Engine >= 25 with the Compose plugin yourself, then run setup again.',
    })
  }

  return {id, codename}
}

function sourcesLine(os: OsRelease, architecture: string, repositoryUrl: string): string {
  return `deb [arch=${architecture} signed-by=${KEYRING}] ${repositoryUrl}/${os.id} ${os.codename} stable\n`
}

async function installedPackages(target: Target, names: readonly string[]): Promise<string[]> {
  const result = await target.exec(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Status}\\n', ...names], {allowExitCodes: 'any'})
  return result.stdout.split('\n').flatMap((line) => {
    const [name, status] = line.trim().split(' ')
    return name && status === 'installed' ? [name] : []
  })
}

function installChanges(os: OsRelease, repositoryUrl: string): Change[] {
  return [
    {kind: 'command', summary: `remove conflicting packages (those installed of ${CONFLICTING_PACKAGES.join(', ')})`, argv: [['apt-get', 'remove', '-y', '...']]},
    {kind: 'command', summary: `add Docker's apt repository for ${os.id} ${os.codename} with its signing key ${KEYRING}`, argv: [['curl', '-fsSL', `${repositoryUrl}/${os.id}/gpg`, '-o', KEYRING]]},
    {kind: 'file', summary: `create ${SOURCES_FILE}`, path: SOURCES_FILE},
    {kind: 'command', summary: `install ${DOCKER_PACKAGES.join(', ')}`, argv: [['apt-get', 'install', '-y', ...DOCKER_PACKAGES]]},
    {kind: 'command', summary: 'enable and start the docker service', argv: [['systemctl', 'enable', '--now', 'docker']]},
  ]
}

function cleanVersion(output: string): string | undefined {
  const match = /v?(\d+\.\d+(?:\.\d+)?)/.exec(output.trim())
  return match?.[1]
}
