/**
 * A small PowerShell lexer for tests. It splits a script into code, comments and string literals
 * by the tokenizer's quoting rules: doubled quotes, typographic quotes, backtick escapes in
 * double-quoted strings, and here-strings. A test can then check where a value ended up. It
 * covers the constructs the generated scripts use, not the whole language.
 */
export type SegmentKind = 'code' | 'comment' | 'single' | 'double' | 'hereSingle' | 'hereDouble'

export interface Segment {
  kind: SegmentKind
  /** The segment's source text, quotes included. */
  text: string
}

const SINGLE = /['\u2018\u2019\u201A\u201B]/
const DOUBLE = /["\u201C\u201D\u201E]/

export function lexPowerShell(script: string): Segment[] {
  const segments: Segment[] = []
  const source = script.replaceAll('\r\n', '\n')
  let code = ''
  let index = 0

  const flushCode = (): void => {
    if (code) segments.push({kind: 'code', text: code})
    code = ''
  }

  const take = (kind: SegmentKind, end: number): void => {
    flushCode()
    segments.push({kind, text: source.slice(index, end)})
    index = end
  }

  while (index < source.length) {
    const char = source[index] as string
    const next = source[index + 1] ?? ''
    const atTokenStart = index === 0 || /[\s;({]/.test(source[index - 1] as string)

    if (char === '<' && next === '#') {
      const end = source.indexOf('#>', index + 2)
      if (end === -1) throw new Error(`Unterminated block comment at offset ${index}`)
      take('comment', end + 2)
    } else if (char === '#' && atTokenStart) {
      const end = source.indexOf('\n', index)
      take('comment', end === -1 ? source.length : end)
    } else if (char === '@' && (SINGLE.test(next) || DOUBLE.test(next)) && /^[ \t]*\n/.test(source.slice(index + 2))) {
      const single = SINGLE.test(next)
      const terminator = single ? /\n['\u2018\u2019\u201A\u201B]@/g : /\n["\u201C\u201D\u201E]@/g
      terminator.lastIndex = index + 2
      const match = terminator.exec(source)
      if (!match) throw new Error(`Unterminated here-string at offset ${index}`)
      take(single ? 'hereSingle' : 'hereDouble', match.index + match[0].length)
    } else if (SINGLE.test(char)) {
      let end = index + 1
      for (;;) {
        if (end >= source.length) throw new Error(`Unterminated single-quoted string at offset ${index}`)
        if (SINGLE.test(source[end] as string)) {
          if (SINGLE.test(source[end + 1] ?? '')) {
            end += 2
            continue
          }

          break
        }

        end += 1
      }

      take('single', end + 1)
    } else if (DOUBLE.test(char)) {
      let end = index + 1
      for (;;) {
        if (end >= source.length) throw new Error(`Unterminated double-quoted string at offset ${index}`)
        const current = source[end] as string
        if (current === '`') {
          end += 2
          continue
        }

        if (DOUBLE.test(current)) {
          if (DOUBLE.test(source[end + 1] ?? '')) {
            end += 2
            continue
          }

          break
        }

        end += 1
      }

      take('double', end + 1)
    } else {
      code += char
      index += 1
    }
  }

  flushCode()
  return segments
}
