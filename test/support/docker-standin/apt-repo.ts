/**
 * A signed apt repository laid out like download.docker.com/linux/debian, inside a test server,
 * with stand-in packages: docker-ce, docker-ce-cli, containerd.io, docker-buildx-plugin,
 * docker-compose-plugin, plus a distribution-style docker.io to be removed. The packages only
 * install scripts that report versions, because no Docker engine can run here. apt in the server
 * reads the repository through a file:// URL and verifies it with a key made for the test.
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {TestServer} from '../test-server.js'

/** Base URL to give the Docker Engine step (`repositoryUrl`). */
export const localDockerRepositoryUrl = 'file:///srv/docker-repo'

interface StandinPackage {
  name: string
  version: string
  conflicts?: string
  depends?: string
  files: Record<string, string>
}

const engineScript = (engine: string, withCompose: boolean) => `#!/bin/sh
# Stand-in docker CLI of a test package: reports versions only.
case "$*" in
  "version --format {{.Server.Version}}") echo "${engine}" ;;
  "compose version --short") ${withCompose ? '[ -e /usr/libexec/docker/cli-plugins/docker-compose ] || exit 1; echo "2.29.7"' : 'echo "docker: unknown command: docker compose" >&2; exit 1'} ;;
  *) echo "stand-in docker ${engine}: $*" >&2; exit 1 ;;
esac
`

const packages: StandinPackage[] = [
  {name: 'docker.io', version: '20.10.24+dfsg1-1+b3', files: {'usr/bin/docker': engineScript('20.10.24+dfsg1', false)}},
  {name: 'docker-ce', version: '5:27.3.1-1~debian.12~bookworm', conflicts: 'docker.io', depends: 'docker-ce-cli, containerd.io', files: {'usr/bin/docker': engineScript('27.3.1', true)}},
  {name: 'docker-ce-cli', version: '5:27.3.1-1~debian.12~bookworm', files: {'usr/share/doc/docker-ce-cli/stand-in': 'test package\n'}},
  {name: 'containerd.io', version: '1.7.22-1', files: {'usr/share/doc/containerd.io/stand-in': 'test package\n'}},
  {name: 'docker-buildx-plugin', version: '0.17.1-1~debian.12~bookworm', files: {'usr/libexec/docker/cli-plugins/docker-buildx': '#!/bin/sh\n'}},
  {name: 'docker-compose-plugin', version: '2.29.7-1~debian.12~bookworm', files: {'usr/libexec/docker/cli-plugins/docker-compose': '#!/bin/sh\n'}},
]

function run(file: string, args: string[], cwd?: string): string {
  return execFileSync(file, args, {cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

function buildPackage(work: string, pool: string, spec: StandinPackage): string {
  const root = path.join(work, spec.name)
  fs.mkdirSync(path.join(root, 'DEBIAN'), {recursive: true})
  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    'Architecture: amd64',
    'Maintainer: mispwazuh tests <tests@example.org>',
    ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
    ...(spec.conflicts ? [`Conflicts: ${spec.conflicts}`] : []),
    `Description: stand-in ${spec.name} for mispwazuh tests`,
    '',
  ].join('\n')
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), control)
  for (const [file, content] of Object.entries(spec.files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
    fs.writeFileSync(path.join(root, file), content, {mode: content.startsWith('#!') ? 0o755 : 0o644})
  }

  const debFile = path.join(pool, `${spec.name}_${spec.version.replace(/^\d+:/, '')}_amd64.deb`)
  run('dpkg-deb', ['--root-owner-group', '--build', root, debFile])
  return debFile
}

/**
 * Builds the repository into the server at /srv/docker-repo/debian and returns the path inside the
 * server of the docker.io package file, for installing the "old distribution Docker" first.
 */
export function buildDockerAptRepository(server: TestServer, codename = 'bookworm'): {dockerIoDeb: string} {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-docker-repo-'))
  try {
    const repository = server.pathOnHost('/srv/docker-repo/debian')
    const pool = path.join(repository, 'pool/stable')
    const binary = path.join(repository, `dists/${codename}/stable/binary-amd64`)
    fs.mkdirSync(pool, {recursive: true})
    fs.mkdirSync(binary, {recursive: true})

    let dockerIoDeb = ''
    for (const spec of packages) {
      const file = buildPackage(path.join(work, 'packages'), pool, spec)
      if (spec.name === 'docker.io') dockerIoDeb = `/srv/docker-repo/debian/pool/stable/${path.basename(file)}`
    }

    // docker.io is a distribution package, not part of Docker's repository.
    const index = run('dpkg-scanpackages', ['--multiversion', 'pool'], repository)
      .split('\n\n')
      .filter((stanza) => stanza.trim() !== '' && !stanza.startsWith('Package: docker.io\n'))
      .join('\n\n')
    const packagesText = `${index.trim()}\n`
    fs.writeFileSync(path.join(binary, 'Packages'), packagesText)

    const release = [
      'Origin: mispwazuh tests',
      'Label: Docker CE stand-in',
      `Suite: ${codename}`,
      `Codename: ${codename}`,
      `Date: ${new Date(Date.now() - 3_600_000).toUTCString()}`,
      'Architectures: amd64',
      'Components: stable',
      'SHA256:',
      ` ${createHash('sha256').update(packagesText).digest('hex')} ${Buffer.byteLength(packagesText)} stable/binary-amd64/Packages`,
      '',
    ].join('\n')
    const releaseFile = path.join(repository, `dists/${codename}/Release`)
    fs.writeFileSync(releaseFile, release)

    const home = path.join(work, 'gnupg')
    fs.mkdirSync(home, {mode: 0o700})
    const gpg = (...args: string[]) => run('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args])
    gpg('--quick-gen-key', 'mispwazuh docker repository stand-in <tests@example.org>', 'ed25519', 'sign', '1d')
    fs.writeFileSync(path.join(repository, 'gpg'), gpg('--armor', '--export'))
    gpg('--clearsign', '--output', path.join(repository, `dists/${codename}/InRelease`), releaseFile)
    // gpg-agent keeps running for the home directory; ask it to stop before the directory goes.
    try {
      run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'])
    } catch {
      // No agent was started.
    }

    return {dockerIoDeb}
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/** Installs a `systemctl` that records its calls, because the test server runs no systemd. */
export async function installSystemctlStandin(server: TestServer): Promise<() => string[]> {
  await server.writeFile('/usr/local/bin/systemctl', '#!/bin/sh\n# Test stand-in: records the call; the test server runs no systemd.\nmkdir -p /var/lib/docker-standin\necho "$*" >> /var/lib/docker-standin/systemctl.log\n', {mode: 0o755})
  return () => {
    const file = server.pathOnHost('/var/lib/docker-standin/systemctl.log')
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
  }
}
