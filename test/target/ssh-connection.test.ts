import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ExitCode, MispwazuhError} from '../../src/errors.js'
import {SshTarget} from '../../src/target/ssh-target.js'
import {hostFlags, runCli} from '../support/cli.js'
import {freePort, useTestServer} from '../support/test-server.js'

function scratch(): string {
  return mkdtempSync(path.join(tmpdir(), 'mispwazuh-ssh-'))
}

async function connectError(options: Parameters<typeof SshTarget.connect>[0]): Promise<MispwazuhError> {
  const failure = await SshTarget.connect(options).then(
    async (target) => {
      await target.close()
      return undefined
    },
    (error: unknown) => error,
  )
  expect(failure).toBeInstanceOf(MispwazuhError)
  return failure as MispwazuhError
}

describe('SSH connection failures', () => {
  const server = useTestServer()

  it('wrong port gives connection_failed', async () => {
    const error = await connectError({host: '127.0.0.1', port: await freePort(), user: 'root', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})
    expect(error.code).toBe('connection_failed')
    expect(error.exitCode).toBe(ExitCode.connectionFailed)
    expect(error.message).toMatch(/connection refused/)
  })

  it('refused key gives authentication_failed', async () => {
    const directory = scratch()
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(directory, 'stranger')])
    const error = await connectError({host: '127.0.0.1', port: server().port, user: 'root', identityFile: path.join(directory, 'stranger'), knownHostsFile: server().knownHostsFile})
    expect(error.code).toBe('authentication_failed')
    expect(error.exitCode).toBe(ExitCode.authenticationFailed)
  })

  it('unknown host key is rejected without accept-new', async () => {
    const knownHosts = path.join(scratch(), 'known_hosts')
    writeFileSync(knownHosts, '')
    const error = await connectError({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: knownHosts})
    expect(error.code).toBe('host_key_unknown')
    expect(error.exitCode).toBe(ExitCode.hostKeyUnknown)
    expect(error.message).toMatch(/SHA256:/)
    expect(readFileSync(knownHosts, 'utf8')).toBe('')
  })

  it('accept-new records the key, then it is trusted', async () => {
    const knownHosts = path.join(scratch(), 'known_hosts')
    const first = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: knownHosts, acceptNewHostKey: true})
    await first.close()
    expect(readFileSync(knownHosts, 'utf8')).toContain(`[127.0.0.1]:${server().port} ssh-ed25519 `)
    const second = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: knownHosts})
    await second.close()
  })

  it('changed host key is rejected even with accept-new', async () => {
    const directory = scratch()
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(directory, 'other_host')])
    const otherKey = readFileSync(path.join(directory, 'other_host.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
    const knownHosts = path.join(directory, 'known_hosts')
    writeFileSync(knownHosts, `[127.0.0.1]:${server().port} ${otherKey}\n`)
    const error = await connectError({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: knownHosts, acceptNewHostKey: true})
    expect(error.code).toBe('host_key_changed')
    expect(error.exitCode).toBe(ExitCode.hostKeyChanged)
    expect(error.message).toMatch(/line 1/)
  })

  it('hashed known_hosts entries match', async () => {
    const knownHosts = path.join(scratch(), 'known_hosts')
    copyFileSync(server().knownHostsFile, knownHosts)
    execFileSync('ssh-keygen', ['-H', '-f', knownHosts], {stdio: 'ignore'})
    expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\|1\|/)
    const target = await SshTarget.connect({host: '127.0.0.1', port: server().port, user: 'root', identityFile: server().identityFile, knownHostsFile: knownHosts})
    await target.close()
  })

  it('sudo that wants a password gives sudo_password_required', async () => {
    const error = await connectError({host: '127.0.0.1', port: server().port, user: 'pwuser', identityFile: server().identityFile, knownHostsFile: server().knownHostsFile})
    expect(error.code).toBe('sudo_password_required')
    expect(error.exitCode).toBe(ExitCode.sudoPasswordRequired)
    expect(error.fix).toMatch(/NOPASSWD/)
  })

  it('CLI exits with a distinct code for each failure', async () => {
    const port = await freePort()
    const refused = await runCli(['preflight', '--host', `root@127.0.0.1:${port}`, '--identity', server().identityFile, '--known-hosts', server().knownHostsFile])
    expect(refused.exitCode).toBe(ExitCode.connectionFailed)
    expect(refused.stderr).toMatch(/Error: Could not connect to root@127\.0\.0\.1:\d+: connection refused/)
    expect(refused.stderr).toMatch(/Fix: /)

    const emptyKnownHosts = path.join(scratch(), 'known_hosts')
    writeFileSync(emptyKnownHosts, '')
    const unknown = await runCli(['preflight', ...hostFlags({...server(), knownHostsFile: emptyKnownHosts})])
    expect(unknown.exitCode).toBe(ExitCode.hostKeyUnknown)
    expect(unknown.stderr).toMatch(/--accept-new-host-key/)

    const sudo = await runCli(['preflight', ...hostFlags(server(), 'pwuser'), '--json'])
    expect(sudo.exitCode).toBe(ExitCode.sudoPasswordRequired)
    expect(JSON.parse(sudo.stdout).error.code).toBe('sudo_password_required')
  })
})

describe('SSH identity files', () => {
  it('public key as identity is named', async () => {
    const directory = scratch()
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(directory, 'id_ed25519')])
    const error = await connectError({host: '127.0.0.1', port: 22, user: 'root', identityFile: path.join(directory, 'id_ed25519.pub')})
    expect(error.code).toBe('identity_unusable')
    expect(error.exitCode).toBe(ExitCode.authenticationFailed)
    expect(error.message).toMatch(/is a public key/)
    expect(error.fix).toContain(path.join(directory, 'id_ed25519'))
  })
})
