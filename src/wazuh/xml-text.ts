import {XMLParser, XMLValidator} from 'fast-xml-parser'

import {ExitCode, MispwazuhError} from '../errors.js'

/**
 * Reading and editing Wazuh configuration files as text.
 *
 * Wazuh's own reader is not an XML parser: it keeps element text raw (no entity decoding),
 * treats `\<` as an escaped `<`, accepts several top-level elements and `--` inside comments.
 * Rebuilding such a file with an XML library changes what Wazuh reads and loses the layout,
 * so this module only locates elements (fast-xml-parser with source offsets) and edits the
 * text at those offsets. Everything outside an edit stays byte for byte.
 */

export interface XmlElement {
  name: string
  /** Attribute values exactly as written (no entity decoding). */
  attributes: Record<string, string>
  /** Offset of the `<` that opens the element. */
  start: number
  /** Offset just after the `>` that closes the element. */
  end: number
  /** Offset just after the opening tag's `>`. Equals `end` for `<empty/>`. */
  innerStart: number
  /** Offset of the closing tag's `</`. Equals `end` for `<empty/>`. */
  innerEnd: number
  children: XmlElement[]
  parent: XmlElement | undefined
}

export interface WazuhXmlDocument {
  /** The file name shown in messages. */
  file: string
  text: string
  /** Top-level elements in file order. */
  roots: XmlElement[]
  eol: '\n' | '\r\n'
  /** One level of indentation as the file writes it: a tab or a number of spaces. */
  indentUnit: string
}

/** A file Wazuh-style XML tools cannot read: unbalanced tags, a stray `<`, a duplicate attribute. */
export class MalformedWazuhFileError extends MispwazuhError {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly detail: string

  constructor(file: string, line: number, column: number, detail: string, context = '') {
    super(`${file} is not well formed at line ${line}, column ${column}: ${detail}${context}`, {
      code: 'wazuh_file_malformed',
      exitCode: ExitCode.validationFailed,
      fix: `Fix ${file} by hand (or restore it from a backup) and run the command again; mispwazuh does not edit a file it cannot read reliably.`,
    })
    this.name = 'MalformedWazuhFileError'
    this.file = file
    this.line = line
    this.column = column
    this.detail = detail
  }
}

const ROOT_OPEN = '<__mispwazuh_root__>'
const ROOT_CLOSE = '</__mispwazuh_root__>'

const PARSER_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  commentPropName: '#comment',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  captureMetaData: true,
} as const

const ENTITY = /^&(?:[A-Za-z][\w.-]*|#\d+|#x[\da-fA-F]+);/

/**
 * Returns a copy of the text, of the same length, with Wazuh-only syntax replaced by characters
 * an XML validator accepts. An escaped `<` in element text (after an odd run of backslashes), a
 * `&` that starts no entity and a `<` inside an attribute value each become `_`. Comments,
 * CDATA and markup stay as they are, so offsets and line numbers match the original.
 */
export function maskWazuhSyntax(text: string): string {
  const out: string[] = []
  let index = 0

  const copyUntil = (terminator: string): void => {
    const close = text.indexOf(terminator, index)
    const stop = close === -1 ? text.length : close + terminator.length
    out.push(text.slice(index, stop))
    index = stop
  }

  while (index < text.length) {
    const char = text[index]
    if (char === '<') {
      if (text.startsWith('<!--', index)) copyUntil('-->')
      else if (text.startsWith('<![CDATA[', index)) copyUntil(']]>')
      else if (text.startsWith('<?', index)) copyUntil('?>')
      else if (text.startsWith('<!', index)) copyUntil('>')
      else index = maskTag(text, index, out)
      continue
    }

    if (char === '\\') {
      // Wazuh's reader flips an escape flag on every backslash, so an odd run escapes a
      // following `<` and an even run (`E:\\</field>`) does not.
      const run = /^\\+/.exec(text.slice(index))?.[0] ?? '\\'
      out.push(run)
      index += run.length
      if (run.length % 2 === 1 && text[index] === '<') {
        out.push('_')
        index += 1
      }

      continue
    }

    if (char === '&' && !ENTITY.test(text.slice(index, index + 12))) {
      out.push('_')
      index += 1
      continue
    }

    out.push(char as string)
    index += 1
  }

  return out.join('')
}

/** Copies one tag starting at `start`, masking `<` and bare `&` inside quoted attribute values. */
function maskTag(text: string, start: number, out: string[]): number {
  out.push('<')
  let index = start + 1
  let quote: string | undefined
  while (index < text.length) {
    const char = text[index] as string
    if (quote) {
      if (char === quote) quote = undefined
      if (char === '<' || (char === '&' && !ENTITY.test(text.slice(index, index + 12)))) out.push('_')
      else out.push(char)
    } else {
      out.push(char)
      if (char === '"' || char === "'") quote = char
      if (char === '>') return index + 1
      // A new `<` before this tag closed: leave it to the validator to report.
      if (char === '<') return index
    }

    index += 1
  }

  return index
}

/** Returns the line ending the file uses: CRLF when its first line ends with one, LF otherwise. */
export function detectEol(text: string): '\n' | '\r\n' {
  const newline = text.indexOf('\n')
  return newline > 0 && text[newline - 1] === '\r' ? '\r\n' : '\n'
}

/**
 * Returns one level of indentation as the file writes it: a tab when more indented lines start
 * with a tab than with a space, otherwise the smallest space indentation found (2 when none).
 */
export function detectIndentUnit(text: string): string {
  let tabs = 0
  let spaces = 0
  let smallest = Number.POSITIVE_INFINITY
  for (const line of text.split('\n')) {
    const match = /^([ \t]+)\S/.exec(line)
    if (!match) continue
    const indent = match[1] as string
    if (indent.startsWith('\t')) {
      tabs += 1
    } else {
      spaces += 1
      const width = /^ */.exec(indent)?.[0].length ?? 0
      if (width > 0 && width < smallest) smallest = width
    }
  }

  if (tabs > spaces) return '\t'
  return ' '.repeat(Number.isFinite(smallest) ? Math.min(smallest, 8) : 2)
}

/**
 * Parses a Wazuh XML file (several top-level elements allowed) into elements with source
 * offsets. Raises MalformedWazuhFileError when the text is not well formed once Wazuh-only
 * syntax is masked, naming the line and column.
 */
export function parseWazuhXml(text: string, file = 'the file'): WazuhXmlDocument {
  const masked = maskWazuhSyntax(text)
  assertWellFormed(masked, file)

  const parser = new XMLParser(PARSER_OPTIONS)
  const tree = parser.parse(`${ROOT_OPEN}${masked}${ROOT_CLOSE}`) as OrderedNode[]
  const rootNode = tree.find((node) => Object.keys(node).some((key) => key === '__mispwazuh_root__'))
  const children = (rootNode?.['__mispwazuh_root__'] as OrderedNode[] | undefined) ?? []
  const roots = buildElements(children, masked, undefined, file)

  return {file, text, roots, eol: detectEol(text), indentUnit: detectIndentUnit(text)}
}

/**
 * Raises MalformedWazuhFileError unless the text (after masking Wazuh-only syntax) is well
 * formed. The synthetic root keeps line numbers: it adds no newline before the text.
 */
export function assertWellFormed(maskedText: string, file: string): void {
  const result = XMLValidator.validate(`${ROOT_OPEN}${maskedText}${ROOT_CLOSE}`, {allowBooleanAttributes: false})
  if (result === true) return

  const {line, col, msg} = result.err
  const column = line === 1 ? Math.max(1, col - ROOT_OPEN.length) : col
  const detail = msg.replaceAll('__mispwazuh_root__', 'end of file')
  const sourceLine = maskedText.split('\n')[line - 1]
  const context = sourceLine === undefined ? '' : `\n  ${line} | ${sourceLine.replace(/\r$/, '').trim().slice(0, 160)}`
  throw new MalformedWazuhFileError(file, line, column, detail, context)
}

type OrderedNode = Record<string | symbol, unknown>

const META = XMLParser.getMetaDataSymbol() as unknown as symbol

function buildElements(nodes: OrderedNode[], masked: string, parent: XmlElement | undefined, file: string): XmlElement[] {
  const elements: XmlElement[] = []
  for (const node of nodes) {
    const name = Object.keys(node).find((key) => key !== ':@' && key !== '#text' && key !== '#comment')
    if (name === undefined) continue

    const attributesNode = node[':@'] as Record<string | symbol, unknown> | undefined
    const meta = (attributesNode?.[META] ?? node[META]) as {startIndex?: number; endIndex?: number} | undefined
    if (meta?.startIndex === undefined || meta.endIndex === undefined) {
      throw new MalformedWazuhFileError(file, 0, 0, `could not locate element <${name}>`)
    }

    const start = meta.startIndex - ROOT_OPEN.length
    const end = meta.endIndex - ROOT_OPEN.length
    const attributes: Record<string, string> = {}
    for (const [key, value] of Object.entries(attributesNode ?? {})) {
      if (key.startsWith('@_')) attributes[key.slice(2)] = String(value)
    }

    const selfClosing = masked.slice(0, end).endsWith('/>') && openingTagEnd(masked, start) === end
    const innerStart = selfClosing ? end : openingTagEnd(masked, start)
    const innerEnd = selfClosing ? end : masked.lastIndexOf('</', end - 1)
    const element: XmlElement = {name, attributes, start, end, innerStart, innerEnd, children: [], parent}
    element.children = buildElements((node[name] as OrderedNode[] | undefined) ?? [], masked, element, file)
    elements.push(element)
  }

  return elements
}

/** Returns the offset just after the `>` of the tag that opens at `start`, skipping quoted values. */
function openingTagEnd(text: string, start: number): number {
  let quote: string | undefined
  for (let index = start + 1; index < text.length; index += 1) {
    const char = text[index]
    if (quote) {
      if (char === quote) quote = undefined
    } else if (char === '"' || char === "'") {
      quote = char
    } else if (char === '>') {
      return index + 1
    }
  }

  return text.length
}

// ---------------------------------------------------------------------------------------------
// Queries

/** Returns the elements of a list and all their descendants, in document order. */
export function descendants(elements: readonly XmlElement[]): XmlElement[] {
  const found: XmlElement[] = []
  const visit = (list: readonly XmlElement[]): void => {
    for (const element of list) {
      found.push(element)
      visit(element.children)
    }
  }

  visit(elements)
  return found
}

export function childElements(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name)
}

/** Returns the raw text between an element's tags, trimmed (child elements included as text). */
export function elementText(text: string, element: XmlElement): string {
  return text.slice(element.innerStart, element.innerEnd).trim()
}

export function childText(text: string, element: XmlElement, name: string): string | undefined {
  const child = element.children.find((candidate) => candidate.name === name)
  return child ? elementText(text, child) : undefined
}

/** Returns the 1-based line number of an offset. */
export function lineNumberAt(text: string, offset: number): number {
  let line = 1
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) line += 1
  return line
}

export function lineStartAt(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

/** Returns the offset just after the line ending of the line that contains `offset` (or the end of the text). */
export function lineEndAt(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset)
  return newline === -1 ? text.length : newline + 1
}

/** Returns the whitespace that starts the line holding `offset`. */
export function indentAt(text: string, offset: number): string {
  const start = lineStartAt(text, offset)
  return /^[ \t]*/.exec(text.slice(start, offset))?.[0] ?? ''
}

/** Tells whether only spaces and tabs stand between the start of the line and `offset`. */
export function startsLine(text: string, offset: number): boolean {
  return /^[ \t]*$/.test(text.slice(lineStartAt(text, offset), offset))
}

/** Tells whether only spaces, tabs and the line ending follow `offset` on its line. */
export function endsLine(text: string, offset: number): boolean {
  return /^[ \t]*\r?(?:\n|$)/.test(text.slice(offset, lineEndAt(text, offset)))
}

// ---------------------------------------------------------------------------------------------
// Edits

export interface TextEdit {
  start: number
  end: number
  replacement: string
}

/** Applies non-overlapping edits to a text. Raises an error when two edits overlap. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const ordered = [...edits].sort((a, b) => a.start - b.start || a.end - b.end)
  for (let index = 1; index < ordered.length; index += 1) {
    const previous = ordered[index - 1] as TextEdit
    const current = ordered[index] as TextEdit
    if (current.start < previous.end) throw new Error(`Overlapping text edits at offsets ${previous.start}-${previous.end} and ${current.start}-${current.end}`)
  }

  let result = text
  for (const edit of ordered.reverse()) result = result.slice(0, edit.start) + edit.replacement + result.slice(edit.end)
  return result
}

/**
 * Returns the edit that removes an element. When the element sits alone on its lines, the
 * whole lines go (indentation and line ending included); otherwise only the element's text.
 */
export function removeElementEdit(text: string, element: XmlElement): TextEdit {
  if (startsLine(text, element.start) && endsLine(text, element.end)) {
    return {start: lineStartAt(text, element.start), end: lineEndAt(text, element.end), replacement: ''}
  }

  return {start: element.start, end: element.end, replacement: ''}
}

/**
 * Turns a fragment written with LF endings and two spaces per level into the file's style:
 * every non-empty line is prefixed with `baseIndent`, each two leading spaces become one
 * `indentUnit`, and lines end with `eol`. The result ends with a line ending.
 */
export function formatFragment(fragment: string, baseIndent: string, indentUnit: string, eol: string): string {
  const lines = fragment.replaceAll('\r\n', '\n').replace(/\n+$/, '').split('\n')
  return lines
    .map((line) => {
      if (line.trim() === '') return eol
      const leading = /^ */.exec(line)?.[0].length ?? 0
      const levels = Math.floor(leading / 2)
      const rest = ' '.repeat(leading % 2) + line.slice(leading)
      return `${baseIndent}${indentUnit.repeat(levels)}${rest.trimEnd()}${eol}`
    })
    .join('')
}

/** Removes the indentation common to all non-empty lines of a block of text. */
export function dedent(block: string): string {
  const lines = block.replaceAll('\r\n', '\n').split('\n')
  const indents = lines.filter((line) => line.trim() !== '').map((line) => /^[ \t]*/.exec(line)?.[0] ?? '')
  if (indents.length === 0) return block
  let common = indents[0] as string
  for (const indent of indents) {
    while (!indent.startsWith(common)) common = common.slice(0, -1)
  }

  return lines.map((line) => (line.startsWith(common) ? line.slice(common.length) : line.trimStart())).join('\n')
}

/** Rewrites leading tabs as two spaces per tab, the indentation formatFragment expects. */
export function tabsToSpaces(block: string): string {
  return block
    .split('\n')
    .map((line) => {
      const leading = /^[ \t]*/.exec(line)?.[0] ?? ''
      return leading.replaceAll('\t', '  ') + line.slice(leading.length)
    })
    .join('\n')
}
