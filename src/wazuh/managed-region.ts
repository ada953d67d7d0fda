import {ExitCode, MispwazuhError} from '../errors.js'
import {formatFragment, indentAt, lineEndAt, lineNumberAt, lineStartAt, type TextEdit} from './xml-text.js'

/**
 * A managed region is the part of a Wazuh file that mispwazuh writes, between two marker
 * comments on lines of their own:
 *
 *     <!-- mispwazuh:begin local-rules (managed by mispwazuh: edits inside are replaced) -->
 *     ...
 *     <!-- mispwazuh:end local-rules -->
 *
 * Everything between the markers belongs to mispwazuh; everything outside is left byte for byte.
 */
export interface ManagedRegion {
  id: string
  /** Offset of the start of the begin marker's line. */
  start: number
  /** Offset just after the end marker's line ending. */
  end: number
  /** Offset just after the begin marker's line ending. */
  innerStart: number
  /** Offset of the start of the end marker's line. */
  innerEnd: number
  /** Indentation of the begin marker's line. */
  indent: string
}

const BEGIN = /<!--[ \t]*mispwazuh:begin[ \t]+([\w.-]+)[^\n]*?-->/g
const END = /<!--[ \t]*mispwazuh:end[ \t]+([\w.-]+)[ \t]*-->/g

export const REGION_NOTE = 'managed by mispwazuh: edits inside are replaced'

export class ManagedRegionError extends MispwazuhError {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`, {
      code: 'wazuh_managed_region_invalid',
      exitCode: ExitCode.validationFailed,
      fix: `Restore the mispwazuh begin/end marker comments in ${file} (or remove both markers and everything between them) and run the command again.`,
    })
    this.name = 'ManagedRegionError'
  }
}

/** Returns the managed regions of a file in order. Raises ManagedRegionError for unpaired or nested markers. */
export function findManagedRegions(text: string, file: string): ManagedRegion[] {
  const markers: Array<{kind: 'begin' | 'end'; id: string; offset: number; length: number}> = []
  for (const match of text.matchAll(BEGIN)) markers.push({kind: 'begin', id: match[1] as string, offset: match.index, length: match[0].length})
  for (const match of text.matchAll(END)) markers.push({kind: 'end', id: match[1] as string, offset: match.index, length: match[0].length})
  markers.sort((a, b) => a.offset - b.offset)

  const regions: ManagedRegion[] = []
  const seen = new Set<string>()
  for (let index = 0; index < markers.length; index += 2) {
    const begin = markers[index]
    const end = markers[index + 1]
    if (!begin || begin.kind !== 'begin') {
      throw new ManagedRegionError(file, `the marker "mispwazuh:end ${begin?.id ?? ''}" at line ${lineNumberAt(text, begin?.offset ?? 0)} has no begin marker`)
    }

    if (!end || end.kind !== 'end' || end.id !== begin.id) {
      throw new ManagedRegionError(file, `the marker "mispwazuh:begin ${begin.id}" at line ${lineNumberAt(text, begin.offset)} has no matching end marker`)
    }

    if (seen.has(begin.id)) throw new ManagedRegionError(file, `the region "${begin.id}" appears twice (again at line ${lineNumberAt(text, begin.offset)})`)
    seen.add(begin.id)

    regions.push({
      id: begin.id,
      start: lineStartAt(text, begin.offset),
      end: lineEndAt(text, end.offset + end.length),
      innerStart: lineEndAt(text, begin.offset + begin.length),
      innerEnd: lineStartAt(text, end.offset),
      indent: indentAt(text, begin.offset),
    })
  }

  return regions
}

/**
 * Renders a managed region: the begin marker, the body (LF endings, two spaces per level), the
 * end marker. Each line gets `baseIndent` and the file's indentation unit and line ending.
 */
export function renderManagedRegion(id: string, body: string, baseIndent: string, indentUnit: string, eol: string): string {
  const fragment = `<!-- mispwazuh:begin ${id} (${REGION_NOTE}) -->\n${body.replace(/\n+$/, '')}\n<!-- mispwazuh:end ${id} -->\n`
  return formatFragment(fragment, baseIndent, indentUnit, eol)
}

/** Returns the edit that replaces an existing region with new region text. */
export function replaceRegionEdit(region: ManagedRegion, regionText: string): TextEdit {
  return {start: region.start, end: region.end, replacement: regionText}
}

/** Tells whether an offset lies inside any of the regions. */
export function insideRegion(regions: readonly ManagedRegion[], offset: number): ManagedRegion | undefined {
  return regions.find((region) => offset >= region.start && offset < region.end)
}
