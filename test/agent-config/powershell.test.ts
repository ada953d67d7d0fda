import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../src/errors.js'
import {parsePsSingleQuoted, psQuote, toCrlf, withUtf8Bom} from '../../src/windows/powershell.js'
import {psHereString} from '../../src/windows/snippets.js'

describe('psQuote', () => {
  // Exact literals: inside single quotes PowerShell expands nothing, so only quotes change.
  const cases: Array<[string, string]> = [
    ['plain', "'plain'"],
    ['', "''"],
    ['two words', "'two words'"],
    ["it's", "'it''s'"],
    ["''", "''''''"],
    ['$env:USERNAME', "'$env:USERNAME'"],
    ['$(Remove-Item C:\\ -Recurse)', "'$(Remove-Item C:\\ -Recurse)'"],
    ['back`tick`n', "'back`tick`n'"],
    ['say "hi"', `'say "hi"'`],
    ['Zoë-Pétursdóttir', "'Zoë-Pétursdóttir'"],
    ['東京-01', "'東京-01'"],
    ['smart\u2019quote', "'smart\u2019\u2019quote'"],
    ['low\u201Aand\u201Bhigh\u2018', "'low\u201A\u201Aand\u201B\u201Bhigh\u2018\u2018'"],
    ["'; Remove-Item C:\\ #", "'''; Remove-Item C:\\ #'"],
  ]

  for (const [value, literal] of cases) {
    it(`quotes ${JSON.stringify(value)}`, () => {
      expect(psQuote(value)).toBe(literal)
    })
  }

  it('round-trips every case through the tokenizer rules', () => {
    for (const [value] of cases) {
      expect(parsePsSingleQuoted(psQuote(value))).toBe(value)
    }
  })

  it('produces one literal that nothing can close early', () => {
    // An unquoted apostrophe of any kind would end the literal before its last character.
    for (const [value] of cases) {
      const literal = psQuote(value)
      expect(parsePsSingleQuoted(literal + ' extra')).toBeUndefined()
      expect(parsePsSingleQuoted(literal)).not.toBeUndefined()
    }
  })

  it('rejects control characters', () => {
    for (const value of ['line\nbreak', 'carriage\rreturn', 'tab\there', 'nul\u0000', 'escape\u001b[31m', 'c1\u0085next']) {
      expect(() => psQuote(value, 'agent name')).toThrow(InvalidInputError)
    }
  })

  it('names the value in the control character error', () => {
    expect(() => psQuote('a\nb', 'agent name')).toThrow(/agent name "a\\nb" contains a control character/)
  })
})

describe('parsePsSingleQuoted', () => {
  it('rejects text that is not one literal', () => {
    expect(parsePsSingleQuoted('plain')).toBeUndefined()
    expect(parsePsSingleQuoted("'open")).toBeUndefined()
    expect(parsePsSingleQuoted("'a' + 'b'")).toBeUndefined()
  })

  it('reads a typographic quote as a string delimiter', () => {
    expect(parsePsSingleQuoted('\u2018curly\u2019')).toBe('curly')
  })
})

describe('psHereString', () => {
  it('wraps text between @-quote lines', () => {
    expect(psHereString('<a>\n  $b\n</a>\n')).toBe("@'\n<a>\n  $b\n</a>\n'@")
  })

  it('rejects a line that would end the here-string', () => {
    expect(() => psHereString("first\n'@\nWrite-Host injected")).toThrow(/must not have a line starting with '@/)
    expect(() => psHereString('first\n\u2019@ closes too')).toThrow(/must not have a line starting/)
  })

  it('accepts the terminator inside a line', () => {
    expect(psHereString("a '@ b")).toBe("@'\na '@ b\n'@")
  })
})

describe('script encoding', () => {
  it('writes UTF-8 with a byte order mark', () => {
    const bytes = withUtf8Bom("Write-Output 'Zoë'")
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(bytes.subarray(3).toString('utf8')).toBe("Write-Output 'Zoë'")
  })

  it('converts line endings to CRLF once', () => {
    expect(toCrlf('a\nb\r\nc\n')).toBe('a\r\nb\r\nc\r\n')
  })
})
