/**
 * Converts a Wazuh OS_Regex pattern (the default `<field>` and `pattern="..."` syntax) into a
 * JavaScript RegExp. OS_Regex is case-insensitive and has no groups with alternation or
 * bounded repeats. A plain `.` is a literal dot and `\.` is any character, so `.xml$` means
 * "ends in .xml". Supported: `^`, `$`, `|` between whole patterns, `+` and `*` after one
 * character or escape, and the escapes `\d \w \s \p \W \D \S \.` plus escaped punctuation.
 */
export function osregexToRegExp(pattern: string): RegExp {
  let source = ''
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] as string
    if (char === '\\') {
      const next = pattern[index + 1] ?? ''
      index += 1
      source += ESCAPES[next] ?? `\\${next}`
    } else if ('^$|+*'.includes(char)) {
      source += char
    } else {
      source += char.replace(/[.?()[\]{}/-]/, (special) => `\\${special}`)
    }
  }

  return new RegExp(source, 'i')
}

// OS_Regex character classes (Wazuh documentation, "Regular expression syntax": \w is A-Z,
// a-z, 0-9, '-', '@' and '_'; \p is punctuation).
const ESCAPES: Record<string, string> = {
  '.': '[\\s\\S]',
  d: '\\d',
  D: '\\D',
  w: '[A-Za-z0-9@_-]',
  W: '[^A-Za-z0-9@_-]',
  s: '\\s',
  S: '\\S',
  p: '[()*+,\\-.:;<=>?[\\]!"\'#$%&|{}]',
}
