import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {firstLine, parseUsePassword} from '../../src/windows/manager-values.js'

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

describe('firstLine', () => {
  it('keeps the password without its line ending', () => {
    expect(firstLine('s3cret pass\r\nsecond line\n')).toBe('s3cret pass')
    expect(firstLine('only')).toBe('only')
    expect(firstLine('')).toBe('')
  })
})
