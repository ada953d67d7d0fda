/**
 * setup when things go wrong: killed at step boundaries and in the middle of the Wazuh
 * configuration write, and a manager that does not come back after the change.
 */
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {hostFlags, repositoryRoot, runCli} from '../support/cli.js'
import {prepareSetupLab, type SetupLab} from '../support/setup-lab.js'
import {useTestServer, type TestServer} from '../support/test-server.js'
import {failNextManagerStart} from '../support/wazuh/standins.js'

const server = useTestServer()
let lab: SetupLab

beforeAll(async () => {
  lab = await prepareSetupLab(server())
})

afterAll(async () => {
  await lab?.stop()
})

/** Runs setup and kills it with SIGKILL as soon as a progress line matches `pattern`. Returns whether it was killed. */
async function setupKilledAt(pattern: RegExp, extra: string[] = []): Promise<{killed: boolean; stderr: string}> {
  const child = execa(process.execPath, [path.join(repositoryRoot, 'bin', 'run.js'), 'setup', ...hostFlags(server()), ...lab.setupFlags, ...extra], {reject: false, env: {NO_COLOR: '1'}})
  let killed = false
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    if (!killed && pattern.test(stderr)) {
      killed = true
      child.kill('SIGKILL')
    }
  })
  await child
  return {killed, stderr}
}

/** Wazuh's own validators (the stand-ins) accept the configuration files as they are now. */
async function wazuhFilesValid(target: TestServer): Promise<void> {
  const installed = (await target.exec(['test', '-e', '/var/ossec/etc/ossec.conf'])).exitCode === 0
  if (!installed) return
  const analysisd = await target.exec(['/var/ossec/bin/wazuh-analysisd', '-t'])
  expect(analysisd.exitCode, analysisd.stdout + analysisd.stderr).toBe(0)
  const integratord = await target.exec(['/var/ossec/bin/wazuh-integratord', '-t'])
  expect(integratord.exitCode, integratord.stdout + integratord.stderr).toBe(0)
  const leftovers = await target.exec(['sh', '-c', 'ls -A /var/ossec/etc /var/ossec/etc/rules | grep -c mispwazuh-tmp || true'])
  expect(leftovers.stdout.trim()).toBe('0')
}

describe('setup interrupted', () => {
  // Each boundary is the end of a step, as the plain progress view prints it. The run is killed
  // right there and the files are checked, then the next run goes one boundary further.
  const boundaries = [
    /\[3\/16\] [^\n]*: changed/,
    /\[5\/16\] [^\n]*: changed/,
    /\[7\/16\] [^\n]*: changed/,
    /\[10\/16\] [^\n]*: changed/,
    /\[13\/16\] [^\n]*: changed/,
    /writing and validating the Wazuh files/,
    /\[15\/16\] [^\n]*: changed/,
  ]

  it('leaves valid files at every boundary and a re-run converges', async () => {
    for (const boundary of boundaries) {
      const run = await setupKilledAt(boundary)
      expect(run.killed, `never reached ${boundary}:\n${run.stderr.slice(-2000)}`).toBe(true)
      await wazuhFilesValid(server())
    }

    const resumed = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
    expect(resumed.exitCode, resumed.stdout).toBe(0)
    // The run killed after the configuration step still owes the manager a restart.
    expect(resumed.stdout).toMatch(/changed Wazuh manager restart: done \(before: the manager has not loaded the new configuration yet\)/)

    const again = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toMatch(/^0 changed, 16 ok, 0 skipped\.$/m)
  }, 900_000)
})

describe('setup stopped with Ctrl+C', () => {
  it('finishes the running step, stops, and resumes', async () => {
    const child = execa(process.execPath, [path.join(repositoryRoot, 'bin', 'run.js'), 'setup', ...hostFlags(server()), ...lab.setupFlags, '--rule-id-base', '102000'], {reject: false, env: {NO_COLOR: '1'}})
    let sent = false
    child.stderr?.on('data', (chunk: Buffer) => {
      if (!sent && /\[14\/16\] [^\n]*\.\.\./.test(chunk.toString())) {
        sent = true
        child.kill('SIGINT')
      }
    })
    const interrupted = await child
    expect(sent).toBe(true)
    expect(interrupted.exitCode).toBe(ExitCode.interrupted)
    expect(interrupted.stderr).toMatch(/Interrupted: finishing the current step, then stopping/)
    expect(interrupted.stdout).toMatch(/pending Wazuh manager restart: not run: interrupted/)
    expect(interrupted.stdout).toMatch(/Run setup again to resume/)
    await wazuhFilesValid(server())

    const resumed = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags, '--rule-id-base', '102000'])
    expect(resumed.exitCode, resumed.stdout).toBe(0)
    expect(await server().readFile('/var/ossec/etc/rules/misp.xml')).toContain('<rule id="102013" level="12">')
  }, 600_000)
})

describe('setup with a manager that does not come back', () => {
  it('restores the configuration and restarts on it', async () => {
    const converged = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags])
    expect(converged.exitCode).toBe(0)
    const before = {
      ossecConf: await server().readFile('/var/ossec/etc/ossec.conf'),
      localRules: await server().readFile('/var/ossec/etc/rules/local_rules.xml'),
      mispRules: await server().readFile('/var/ossec/etc/rules/misp.xml'),
    }

    await failNextManagerStart(server())
    const failed = await runCli(['setup', ...hostFlags(server()), ...lab.setupFlags, '--rule-id-base', '101000'])
    expect(failed.exitCode).toBe(ExitCode.validationFailed)
    expect(failed.stdout).toMatch(/Setup stopped at "Wazuh manager restart"/)
    expect(failed.stdout).toMatch(/did not start with the new configuration/)
    expect(failed.stdout).toMatch(/restored the previous configuration/)

    expect(await server().readFile('/var/ossec/etc/ossec.conf')).toBe(before.ossecConf)
    expect(await server().readFile('/var/ossec/etc/rules/local_rules.xml')).toBe(before.localRules)
    expect(await server().readFile('/var/ossec/etc/rules/misp.xml')).toBe(before.mispRules)
    const status = await server().exec(['/var/ossec/bin/wazuh-control', 'status'])
    expect(status.stdout).toMatch(/^wazuh-analysisd is running/m)
    expect(status.stdout).toMatch(/^wazuh-integratord is running/m)
  }, 600_000)
})
