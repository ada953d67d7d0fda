import {InvalidInputError} from '../errors.js'

/**
 * Characters PowerShell's tokenizer treats as a single quote: the ASCII apostrophe and the
 * typographic quotes U+2018, U+2019, U+201A and U+201B. Any of them ends a single-quoted string,
 * so each one inside a value is doubled, which PowerShell reads back as one literal character.
 */
const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g

// C0 and C1 control characters, including CR and LF: a value never needs them, and inside a
// script they would hide or break lines.
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F-\u009F]/

/**
 * Quotes a value as a PowerShell single-quoted string literal. Inside single quotes PowerShell
 * expands nothing: `$`, backticks, double quotes and non-ASCII letters stay literal, and only the
 * single-quote characters need doubling. `what` names the value in the error for control
 * characters.
 */
export function psQuote(value: string, what = 'value'): string {
  if (CONTROL_CHARACTERS.test(value)) {
    throw new InvalidInputError(`The ${what} ${JSON.stringify(value)} contains a control character (such as a line break or tab).`, `Pass the ${what} without control characters.`)
  }

  return `'${value.replace(SINGLE_QUOTES, (quote) => quote + quote)}'`
}

/**
 * Reads a PowerShell single-quoted literal back into its value, following the tokenizer's rules.
 * Returns undefined when `literal` is not exactly one complete single-quoted string. The tests
 * use it to prove that psQuote's output parses back to the input and nothing else.
 */
export function parsePsSingleQuoted(literal: string): string | undefined {
  const isQuote = (character: string | undefined): boolean => character !== undefined && /^['\u2018\u2019\u201A\u201B]$/.test(character)
  const characters = [...literal]
  if (!isQuote(characters[0])) return undefined

  let value = ''
  let index = 1
  while (index < characters.length) {
    const character = characters[index]!
    if (isQuote(character)) {
      if (isQuote(characters[index + 1])) {
        value += character
        index += 2
        continue
      }

      return index === characters.length - 1 ? value : undefined
    }

    value += character
    index += 1
  }

  return undefined
}

/**
 * Windows PowerShell 5.1 reads a .ps1 file without a byte order mark in the system's ANSI code
 * page, which garbles non-ASCII text. Script files are therefore written as UTF-8 with a BOM,
 * which both Windows PowerShell and PowerShell 7 read as UTF-8.
 */
export function withUtf8Bom(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')])
}

/** Converts LF line endings to CRLF, the convention for files opened on Windows. */
export function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n')
}
