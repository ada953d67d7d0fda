import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {APPENDED_BLOCK_HEADER, isSecretEnvName, parseEnv, setEnvValues} from '../../src/misp/env-file.js'
import {InvalidInputError} from '../../src/errors.js'

const template = fs.readFileSync(path.resolve('test/fixtures/misp/misp-docker-template.env'), 'utf8')

describe('parseEnv', () => {
  it('reads active lines only', () => {
    const values = parseEnv('A=1\n# B=2\n  C = three\nexport D=4\n')
    expect([...values.entries()]).toEqual([['A', '1'], ['C', 'three'], ['D', '4']])
  })

  it('later line wins, quotes removed', () => {
    const values = parseEnv("A=1\nA='two words'\nB=\"x\"\n")
    expect(values.get('A')).toBe('two words')
    expect(values.get('B')).toBe('x')
  })

  it('reads the misp-docker template', () => {
    const values = parseEnv(template)
    expect(values.get('CORE_TAG')).toBe('v2.5.42')
    expect(values.get('ADMIN_KEY')).toBe('')
    expect(values.has('CORE_HTTPS_PORT')).toBe(false)
  })
})

describe('setEnvValues', () => {
  it('changes an active line in place', () => {
    const text = setEnvValues(template, {BASE_URL: 'https://misp.example.org:8443'})
    const lines = text.split('\n')
    expect(lines.indexOf('BASE_URL=https://misp.example.org:8443')).toBe(template.split('\n').findIndex((line) => line.startsWith('BASE_URL=')))
  })

  it('uncomments an example line', () => {
    const text = setEnvValues(template, {CORE_HTTPS_PORT: '8443'})
    expect(text).toContain('\nCORE_HTTPS_PORT=8443\n')
    expect(text).not.toContain('# CORE_HTTPS_PORT=')
  })

  it('appends unknown names under one header', () => {
    const once = setEnvValues(template, {NGINX_HTTPS_PORT: '8443'})
    const twice = setEnvValues(once, {NGINX_HTTP_PORT: '8080', NGINX_HTTPS_PORT: '8443'})
    expect(twice.split(APPENDED_BLOCK_HEADER)).toHaveLength(2)
    expect(twice).toContain(`${APPENDED_BLOCK_HEADER}\nNGINX_HTTP_PORT=8080\nNGINX_HTTPS_PORT=8443\n`)
  })

  it('removes later duplicates', () => {
    const text = setEnvValues('A=1\nB=2\nA=3\n', {A: '9'})
    expect(text).toBe('A=9\nB=2\n')
  })

  it('is idempotent', () => {
    const values = {BASE_URL: 'https://10.0.0.5:8443', CORE_HTTPS_PORT: '8443', NGINX_HTTPS_PORT: '8443', ADMIN_EMAIL: 'admin@misp.local'}
    const once = setEnvValues(template, values)
    expect(setEnvValues(once, values)).toBe(once)
  })

  it('keeps lines it does not set', () => {
    const edited = `${template}MY_OWN=value\n`
    const text = setEnvValues(edited, {BASE_URL: 'https://x.example:8443'})
    expect(text).toContain('\nMY_OWN=value\n')
    expect(text.split('\n').length).toBe(edited.split('\n').length)
  })

  it('quotes a value with spaces', () => {
    expect(setEnvValues('', {ADMIN_ORG: 'My Org'})).toBe(`${APPENDED_BLOCK_HEADER}\nADMIN_ORG='My Org'\n`)
  })

  it('rejects a value with a quote', () => {
    expect(() => setEnvValues('', {ADMIN_ORG: "O'Brien"})).toThrow(InvalidInputError)
  })
})

describe('isSecretEnvName', () => {
  it.each([
    ['ADMIN_PASSWORD', true],
    ['ADMIN_KEY', true],
    ['MYSQL_ROOT_PASSWORD', true],
    ['REDIS_PASSWORD', true],
    ['ENCRYPTION_KEY', true],
    ['SALT', true],
    ['GPG_PASSPHRASE', true],
    ['BASE_URL', false],
    ['ADMIN_EMAIL', false],
    ['MYSQL_TLS_KEY', false],
  ])('%s is secret: %s', (name, expected) => {
    expect(isSecretEnvName(name)).toBe(expected)
  })
})
