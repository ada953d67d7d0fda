/**
 * Everything a full `mispwazuh setup` needs on a Debian test server, for the setup and verify
 * tests: the docker stand-in (which serves the MISP double on `compose up`), the Wazuh
 * stand-ins (installer, wazuh-control, manager, API), a local misp-docker repository to clone
 * (GitHub is out of reach here), and free ports for MISP and the Wazuh dashboard.
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {installDockerStandin, type DockerStandin} from './docker-standin/index.js'
import {repositoryRoot} from './cli.js'
import {freePort, type TestServer} from './test-server.js'
import {installWazuhStandins, type WazuhStandinOptions} from './wazuh/standins.js'

export {freePort}

export interface SetupLab {
  docker: DockerStandin
  mispHttpPort: number
  mispHttpsPort: number
  dashboardPort: number
  /** The misp-docker commit the local repository serves. */
  mispDockerCommit: string
  /** Flags for `setup` besides the connection flags. */
  setupFlags: string[]
  stop(): Promise<void>
}


/**
 * Serves a misp-docker repository (its template.env and compose file from the fixtures) as the
 * bare repository /srv/misp-docker.git inside the server, because GitHub is out of reach here.
 * Returns the commit to check out.
 */
export function serveMispDockerRepository(server: TestServer): string {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-misp-docker-'))
  const work = path.join(scratch, 'misp-docker')
  fs.mkdirSync(work)
  const fixtures = path.join(repositoryRoot, 'test', 'fixtures', 'misp')
  fs.copyFileSync(path.join(fixtures, 'misp-docker-template.env'), path.join(work, 'template.env'))
  fs.copyFileSync(path.join(fixtures, 'misp-docker-compose.yml'), path.join(work, 'docker-compose.yml'))
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.org', ...args], {cwd: work, encoding: 'utf8'}).trim()
  git('init', '-q', '-b', 'main')
  git('add', '.')
  git('commit', '-q', '-m', 'misp-docker snapshot')
  const commit = git('rev-parse', 'HEAD')
  execFileSync('git', ['clone', '-q', '--bare', work, server.pathOnHost('/srv/misp-docker.git')])
  fs.rmSync(scratch, {recursive: true, force: true})
  return commit
}

/**
 * Lets one client key log in to two servers, as an operator's key does: authorizes `first`'s
 * client key on `second` and writes one known_hosts file listing both. Returns its path.
 */
export async function shareClientKey(first: TestServer, second: TestServer): Promise<string> {
  const publicKey = execFileSync('ssh-keygen', ['-y', '-f', first.identityFile], {encoding: 'utf8'})
  await second.exec(['sh', '-c', 'cat >> /root/.ssh/authorized_keys'], {stdin: publicKey})
  const knownHosts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-two-hosts-')), 'known_hosts')
  fs.writeFileSync(knownHosts, fs.readFileSync(first.knownHostsFile, 'utf8') + fs.readFileSync(second.knownHostsFile, 'utf8'))
  return knownHosts
}

export async function prepareSetupLab(server: TestServer, options: {wazuh?: WazuhStandinOptions} = {}): Promise<SetupLab> {
  const docker = await installDockerStandin(server, {loadingRequests: 2})
  await installWazuhStandins(server, options.wazuh)

  const mispDockerCommit = serveMispDockerRepository(server)
  const [mispHttpPort, mispHttpsPort, dashboardPort] = [await freePort(), await freePort(), await freePort()]
  return {
    docker,
    mispHttpPort,
    mispHttpsPort,
    dashboardPort,
    mispDockerCommit,
    setupFlags: [
      '--misp-docker-repo', '/srv/misp-docker.git',
      '--misp-docker-commit', mispDockerCommit,
      '--misp-http-port', String(mispHttpPort),
      '--misp-https-port', String(mispHttpsPort),
      '--wazuh-dashboard-port', String(dashboardPort),
      // The test machine has 2 cores: below the recommended 4, above the installers' minimum.
      '--yes',
    ],
    stop: () => docker.stop(),
  }
}
