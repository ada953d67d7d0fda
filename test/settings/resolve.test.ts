import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ExitCode, InvalidInputError} from '../../src/errors.js'
import {parseHostSpec} from '../../src/settings/host.js'
import {resolveSettings} from '../../src/settings/resolve.js'
import {runCli} from '../support/cli.js'

function configFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mispwazuh-config-')), 'mispwazuh.yaml')
  writeFileSync(file, text)
  return file
}

async function invalid(promise: Promise<unknown>): Promise<InvalidInputError> {
  const error = await promise.then(() => undefined, (failure: unknown) => failure)
  expect(error).toBeInstanceOf(InvalidInputError)
  expect((error as InvalidInputError).exitCode).toBe(ExitCode.invalidInput)
  return error as InvalidInputError
}

describe('settings precedence', () => {
  const file = configFile('misp-https-port: 9443\nwazuhVersion: "4.11"\nrule-id-base: 101000\n')

  it('flag beats env beats config beats default', async () => {
    const {values, sources} = await resolveSettings({
      keys: ['mispHttpsPort', 'wazuhVersion', 'ruleIdBase', 'mispHttpPort'],
      flags: {'misp-https-port': '7443'},
      env: {MISPWAZUH_MISP_HTTPS_PORT: '6443', MISPWAZUH_WAZUH_VERSION: '4.10'},
      configFile: file,
    })
    expect(values).toEqual({mispHttpsPort: 7443, wazuhVersion: '4.10', ruleIdBase: 101_000, mispHttpPort: 8080})
    expect(sources).toEqual({mispHttpsPort: 'flag', wazuhVersion: 'env', ruleIdBase: 'config', mispHttpPort: 'default'})
  })

  it('env fills in when the flag is absent', async () => {
    const {values, sources} = await resolveSettings({keys: ['host'], flags: {}, env: {MISPWAZUH_HOST: 'admin@[2001:db8::5]:2222'}})
    expect(values.host).toEqual({user: 'admin', host: '2001:db8::5', port: 2222})
    expect(sources.host).toBe('env')
  })

  it('an empty env value counts as unset', async () => {
    const {sources} = await resolveSettings({keys: ['mispUrl'], flags: {}, env: {MISPWAZUH_MISP_URL: ''}})
    expect(sources.mispUrl).toBe('unset')
  })

  it('boolean env values are parsed', async () => {
    const {values} = await resolveSettings({keys: ['skipMisp', 'acceptNewHostKey'], flags: {}, env: {MISPWAZUH_SKIP_MISP: 'yes', MISPWAZUH_ACCEPT_NEW_HOST_KEY: '0'}})
    expect(values).toEqual({skipMisp: true, acceptNewHostKey: false})
  })
})

describe('settings validation', () => {
  it('lists every invalid value with its origin', async () => {
    const error = await invalid(
      resolveSettings({
        keys: ['host', 'mispUrl', 'mispHttpsPort', 'wazuhVersion'],
        flags: {host: 'root@bad_host!', 'misp-url': 'http://misp.example.org'},
        env: {MISPWAZUH_MISP_HTTPS_PORT: '70000', MISPWAZUH_WAZUH_VERSION: 'latest'},
      }),
    )
    expect(error.message).toMatch(/Invalid value "root@bad_host!" for --host: Invalid host "bad_host!"/)
    expect(error.message).toMatch(/for --misp-url: Expected an https:\/\/ URL/)
    expect(error.message).toMatch(/Invalid value "70000" for MISPWAZUH_MISP_HTTPS_PORT: Invalid port "70000"/)
    expect(error.message).toMatch(/for MISPWAZUH_WAZUH_VERSION: Expected a Wazuh 4\.x version/)
  })

  it('hides a secret value in the error', async () => {
    const error = await invalid(resolveSettings({keys: ['mispAdminKeyFile'], flags: {'misp-admin-key-file': ''}}))
    expect(error.message).toMatch(/Invalid value \(value hidden\) for --misp-admin-key-file/)
  })

  it('rejects a URL with credentials', async () => {
    const error = await invalid(resolveSettings({keys: ['mispUrl'], flags: {'misp-url': 'https://admin:secret@misp.example.org'}}))
    expect(error.message).toMatch(/must not contain a user name or password/)
  })

  it('parses host forms', () => {
    expect(parseHostSpec('192.0.2.10')).toEqual({user: 'root', host: '192.0.2.10', port: 22})
    expect(parseHostSpec('admin@misp.example.org:2222')).toEqual({user: 'admin', host: 'misp.example.org', port: 2222})
    expect(parseHostSpec('2001:db8::1')).toEqual({user: 'root', host: '2001:db8::1', port: 22})
    expect(() => parseHostSpec('root@[not-ipv6]:22')).toThrow(/Invalid IPv6 address/)
    expect(() => parseHostSpec('root@host:0')).toThrow(/Invalid port "0"/)
  })
})

describe('settings config file', () => {
  it('reports a YAML syntax error with its line', async () => {
    const file = configFile('misp-url: https://misp.example.org\nwazuh-version: [4.12\n')
    const error = await invalid(resolveSettings({keys: ['mispUrl'], flags: {}, configFile: file}))
    expect(error.message).toMatch(/is not valid YAML/)
    expect(error.message).toMatch(/line [23]:/)
  })

  it('reports an unknown key with its line', async () => {
    const file = configFile('# settings\nmisp-url: https://misp.example.org\nmisp-ulr: https://typo.example.org\n')
    const error = await invalid(resolveSettings({keys: ['mispUrl'], flags: {}, configFile: file}))
    expect(error.message).toMatch(/line 3: unknown setting "misp-ulr"/)
  })

  it('reports an invalid value with its line', async () => {
    const file = configFile('\n\nmisp-https-port: eighty\n')
    const error = await invalid(resolveSettings({keys: ['mispHttpsPort'], flags: {}, configFile: file}))
    expect(error.message).toMatch(/mispwazuh\.yaml line 3 \(misp-https-port\)/)
  })

  it('reports a missing file', async () => {
    const error = await invalid(resolveSettings({keys: ['mispUrl'], flags: {}, configFile: '/nonexistent/mispwazuh.yaml'}))
    expect(error.message).toMatch(/Cannot read the config file \/nonexistent\/mispwazuh\.yaml: not found/)
  })

  it('rejects a list at the top', async () => {
    const error = await invalid(resolveSettings({keys: ['mispUrl'], flags: {}, configFile: configFile('- a\n- b\n')}))
    expect(error.message).toMatch(/must be a mapping/)
  })
})

describe('settings missing values', () => {
  it('fails once listing every missing setting when not interactive', async () => {
    const error = await invalid(resolveSettings({keys: ['mispUrl', 'mispAdminKeyFile', 'managerAddress'], required: ['mispUrl', 'mispAdminKeyFile', 'managerAddress'], flags: {}, env: {}, interactive: false}))
    expect(error.message).toMatch(/Missing 3 required settings/)
    expect(error.message).toMatch(/--misp-url https:\/\/misp\.example\.org\s+\(or MISPWAZUH_MISP_URL\)/)
    expect(error.message).toMatch(/--misp-admin-key-file .*\(or MISPWAZUH_MISP_ADMIN_KEY_FILE\)/)
    expect(error.message).toMatch(/--manager-address .*\(or MISPWAZUH_MANAGER_ADDRESS\)/)
  })

  it('asks the prompter when interactive and validates the answer', async () => {
    const asked: string[] = []
    const {values, sources} = await resolveSettings({
      keys: ['mispUrl'],
      required: ['mispUrl'],
      flags: {},
      env: {},
      interactive: true,
      prompter: async (definition, validate) => {
        asked.push(definition.flag)
        expect(validate('ftp://nope')).toMatch(/https/)
        return 'https://misp.example.org/'
      },
    })
    expect(asked).toEqual(['misp-url'])
    expect(values.mispUrl).toBe('https://misp.example.org')
    expect(sources.mispUrl).toBe('prompt')
  })

  it('CLI exits 2 on an invalid flag value before connecting', async () => {
    const result = await runCli(['preflight', '--host', 'root@192.0.2.1:99999'])
    expect(result.exitCode).toBe(ExitCode.invalidInput)
    expect(result.stderr).toMatch(/Invalid port "99999"/)
  })

  it('CLI exits 2 on an unknown flag', async () => {
    const result = await runCli(['preflight', '--hots', 'x'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toMatch(/hots/)
  })
})
