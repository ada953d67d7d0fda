import {describe, expect, it} from 'vitest'

import {compareVersions, parseWazuhControlInfo, supportsIntegrationTimeout} from '../../src/wazuh/manager.js'
import {buildSelftestEvent} from '../../src/wazuh/selftest.js'
import {compareValidation, locateProblem, problemLines, type ValidationRun} from '../../src/wazuh/validation.js'

describe('parseWazuhControlInfo', () => {
  it('reads version and type', () => {
    const info = parseWazuhControlInfo('WAZUH_VERSION="v4.12.0"\nWAZUH_REVISION="rc1"\nWAZUH_TYPE="server"\n')
    expect(info).toEqual({version: '4.12.0', revision: 'rc1', type: 'server'})
  })

  it('returns undefined for other output', () => {
    expect(parseWazuhControlInfo('Usage: wazuh-control {start|stop}').version).toBeUndefined()
    expect(parseWazuhControlInfo('WAZUH_VERSION="unknown"').version).toBeUndefined()
  })
})

describe('versions', () => {
  it('compares numerically', () => {
    expect(compareVersions('4.10.0', '4.8.0')).toBeGreaterThan(0)
    expect(compareVersions('4.7.5', '4.8.0')).toBeLessThan(0)
    expect(compareVersions('4.8', '4.8.0')).toBe(0)
  })

  it('allows timeout from 4.8.0', () => {
    expect(supportsIntegrationTimeout('4.8.0')).toBe(true)
    expect(supportsIntegrationTimeout('4.14.1')).toBe(true)
    expect(supportsIntegrationTimeout('4.7.5')).toBe(false)
    expect(supportsIntegrationTimeout(undefined)).toBe(false)
  })
})

describe('buildSelftestEvent', () => {
  it('builds the queue message', () => {
    expect(buildSelftestEvent('canary-1.example')).toBe('1:mispwazuh-selftest:{"mispwazuh":{"selftest":"1","canary_domain":"canary-1.example"}}')
  })

  it('rejects a value that is not a domain', () => {
    expect(() => buildSelftestEvent('x"}:1')).toThrow(/Invalid canary domain/)
    expect(() => buildSelftestEvent('localhost')).toThrow(/Invalid canary domain/)
  })
})

describe('validation output', () => {
  const run = (output: string, exitCode = 0): ValidationRun => ({
    validator: {name: 'wazuh-analysisd', argv: ['/var/ossec/bin/wazuh-analysisd', '-t']},
    available: true,
    exitCode,
    problems: problemLines(output),
    output,
  })

  it('strips timestamps from problem lines', () => {
    expect(problemLines('2026/12/04 20:00:00 wazuh-analysisd: WARNING: (7612): x\n2026/12/04 20:00:00 wazuh-analysisd: INFO: y\n')).toEqual(['wazuh-analysisd: WARNING: (7612): x'])
  })

  it('counts repeated lines', () => {
    const before = run('01:00 WARNING: a\n')
    expect(compareValidation([before], [run('01:00 WARNING: a\n')])).toEqual([])
    expect(compareValidation([before], [run('01:00 WARNING: a\n01:00 WARNING: a\n')])[0]?.problems).toEqual(['01:00 WARNING: a'])
  })

  it('fails on a new non-zero exit', () => {
    const failures = compareValidation([run('')], [run('Configuration error at etc/ossec.conf', 1)])
    expect(failures).toHaveLength(1)
    expect(failures[0]?.problems).toEqual(['Configuration error at etc/ossec.conf'])
  })

  it('names file and line', () => {
    expect(locateProblem("ERROR: (1226): Error reading XML file 'etc/rules/misp.xml': XMLERR: Element 'rule' not closed. (line 12)")).toMatch(/^etc\/rules\/misp\.xml line 12: ERROR/)
    expect(locateProblem('WARNING: (7612): duplicated')).toBe('WARNING: (7612): duplicated')
  })
})
