import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {firstLine, parseEnrollmentSettings, parseUsePassword} from '../../src/windows/manager-values.js'

const STOCK = readFileSync('test/fixtures/wazuh/config/ossec.conf.manager-ubuntu24.04-v4.12.0.xml', 'utf8')

describe('parseUsePassword', () => {
  it('reads no from the stock manager ossec.conf', () => {
    expect(parseUsePassword(STOCK)).toBe(false)
  })

  it('reads yes when enrollment needs a password', () => {
    expect(parseUsePassword(STOCK.replace('<use_password>no</use_password>', '<use_password>yes</use_password>'))).toBe(true)
  })

  it('lets a later ossec_config block win', () => {
    const later = `${STOCK}\n<ossec_config>\n  <auth>\n    <use_password>yes</use_password>\n  </auth>\n</ossec_config>\n`
    expect(parseUsePassword(later)).toBe(true)
  })

  it('ignores a commented-out setting', () => {
    const commented = STOCK.replace('<use_password>no</use_password>', '<!-- <use_password>yes</use_password> -->')
    expect(parseUsePassword(commented)).toBe(false)
  })

  it('treats a missing auth section as no password', () => {
    expect(parseUsePassword('<ossec_config>\n  <global/>\n</ossec_config>\n')).toBe(false)
  })
})

describe('parseEnrollmentSettings', () => {
  it('reports only ports that differ from the defaults', () => {
    expect(parseEnrollmentSettings(STOCK)).toEqual({usePassword: false, authDisabled: false, registrationPort: undefined, managerPort: undefined})
  })

  it('reads changed ports and a disabled authd', () => {
    const changed = STOCK.replace('<port>1515</port>', '<port>11515</port>').replace('<port>1514</port>', '<port>11514</port>').replace('<disabled>no</disabled>\n    <port>11515', '<disabled>yes</disabled>\n    <port>11515')
    expect(parseEnrollmentSettings(changed)).toEqual({usePassword: false, authDisabled: true, registrationPort: 11515, managerPort: 11514})
  })

  it('ignores the port of a syslog remote block', () => {
    const syslog = `${STOCK}\n<ossec_config>\n  <remote>\n    <connection>syslog</connection>\n    <port>514</port>\n  </remote>\n</ossec_config>\n`
    expect(parseEnrollmentSettings(syslog).managerPort).toBeUndefined()
  })
})

describe('firstLine', () => {
  it('keeps the password without its line ending', () => {
    expect(firstLine('s3cret pass\r\nsecond line\n')).toBe('s3cret pass')
    expect(firstLine('only')).toBe('only')
    expect(firstLine('')).toBe('')
  })
})
