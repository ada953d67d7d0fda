import {mkdtempSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {Redactor} from '../../src/ui/redact.js'
import {RunLog} from '../../src/ui/run-log.js'

describe('Redactor', () => {
  it('replaces registered values everywhere', () => {
    const redactor = new Redactor()
    redactor.register('Zq3vT8yLmN0pR5sW2xK7aB4cD6eF9gH1jJ2kL3mN', 'misp_wazuh_key')
    expect(redactor.redact('key Zq3vT8yLmN0pR5sW2xK7aB4cD6eF9gH1jJ2kL3mN used twice: Zq3vT8yLmN0pR5sW2xK7aB4cD6eF9gH1jJ2kL3mN')).toBe('key [redacted:misp_wazuh_key] used twice: [redacted:misp_wazuh_key]')
  })

  it('ignores values too short to be secrets', () => {
    const redactor = new Redactor()
    redactor.register('abc')
    expect(redactor.redact('abc abc')).toBe('abc abc')
  })

  it('masks secret-looking assignments in text', () => {
    const redactor = new Redactor()
    expect(redactor.redact('ADMIN_PASSWORD=hunter2hunter2 other=1')).toBe('ADMIN_PASSWORD=[redacted] other=1')
    expect(redactor.redact('{"authkey": "0123456789abcdef", "id": "5"}')).toBe('{"authkey": "[redacted]", "id": "5"}')
    expect(redactor.redact('Authorization: tokenvalue123')).toBe('Authorization: [redacted]')
    expect(redactor.redact('$password = (Get-Content -LiteralPath $file)')).toBe('$password = (Get-Content -LiteralPath $file)')
  })

  it('masks secret keys in objects', () => {
    const redactor = new Redactor()
    redactor.register('s3cr3t-value-xyz')
    expect(redactor.redactValue({url: 'https://misp', api_key: 'whatever', nested: {adminPassword: 'pw', note: 'has s3cr3t-value-xyz'}, list: ['s3cr3t-value-xyz']})).toEqual({
      url: 'https://misp',
      api_key: '[redacted]',
      nested: {adminPassword: '[redacted]', note: 'has [redacted:secret]'},
      list: ['[redacted:secret]'],
    })
  })
})

describe('RunLog', () => {
  it('writes a 0600 file with redacted commands', () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'mispwazuh-log-'))
    const redactor = new Redactor()
    redactor.register('very-secret-password-1')
    const log = new RunLog(redactor, {command: 'setup', directory})
    log.command('root@host:22', ['sh', '-c', 'echo $1', 'arg with space'], 0, 12, {stdout: 'printed very-secret-password-1\n'})
    log.info('done')

    const [name] = readdirSync(directory)
    expect(name).toMatch(/^\d{8}T\d{6}Z-setup-\d+\.log$/)
    const file = path.join(directory, name!)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const text = readFileSync(file, 'utf8')
    expect(text).toContain("CMD root@host:22 $ sh -c 'echo $1' 'arg with space' -> exit 0 in 12 ms")
    expect(text).toContain('printed [redacted:secret]')
    expect(text).not.toContain('very-secret-password-1')
  })
})
