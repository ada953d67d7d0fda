import {ExitCode, MispwazuhError} from '../errors.js'
import {INTEGRATION_NAME} from './integration-groups.js'
import {findManagedRegions, insideRegion, renderManagedRegion, replaceRegionEdit} from './managed-region.js'
import {
  applyEdits,
  childElements,
  childText,
  descendants,
  elementText,
  endsLine,
  indentAt,
  lineEndAt,
  lineNumberAt,
  lineStartAt,
  removeElementEdit,
  startsLine,
  type TextEdit,
  type WazuhXmlDocument,
  type XmlElement,
} from './xml-text.js'

/** The managed region of ossec.conf that holds the custom-misp `<integration>` block. */
export const INTEGRATION_REGION = 'custom-misp-integration'

/** The default of `<alerts><log_alert_level>` when ossec.conf does not set it. */
export const DEFAULT_LOG_ALERT_LEVEL = 3

export function ossecConfigRoots(document: WazuhXmlDocument): XmlElement[] {
  return document.roots.filter((root) => root.name === 'ossec_config')
}

/** Returns `<alerts><log_alert_level>`; the last value wins, as later sections override earlier ones. */
export function readLogAlertLevel(document: WazuhXmlDocument): number {
  let level = DEFAULT_LOG_ALERT_LEVEL
  for (const root of ossecConfigRoots(document)) {
    for (const alerts of childElements(root, 'alerts')) {
      const value = childText(document.text, alerts, 'log_alert_level')
      if (value !== undefined && /^\d+$/.test(value)) level = Number(value)
    }
  }

  return level
}

/**
 * Names under which hand-made MISP integration blocks are taken over: the guide's `custom-misp`
 * and `custom-misp.py`, the name MISP's own wazuh-integration README uses for its script.
 */
export const HAND_MADE_INTEGRATION_NAMES: readonly string[] = [INTEGRATION_NAME, `${INTEGRATION_NAME}.py`]

/** Returns the `<integration>` blocks whose `<name>` is one of `names`, in document order. */
export function findIntegrations(document: WazuhXmlDocument, names: readonly string[] = [INTEGRATION_NAME]): XmlElement[] {
  return descendants(ossecConfigRoots(document)).filter((element) => {
    if (element.name !== 'integration' || element.parent?.name !== 'ossec_config') return false
    const name = childText(document.text, element, 'name')
    return name !== undefined && names.includes(name)
  })
}

export interface IntegrationBlock {
  element: XmlElement
  line: number
  managed: boolean
  /** The `<group>` entries, split at commas without trimming, as integratord compares them. */
  groups: string[]
  alertFormat: string | undefined
  tags: string[]
}

/** Describes each custom-misp block: where it is, whether mispwazuh wrote it, its groups and tags. */
export function readIntegrationBlocks(document: WazuhXmlDocument, names: readonly string[] = [INTEGRATION_NAME]): IntegrationBlock[] {
  const regions = findManagedRegions(document.text, document.file)
  return findIntegrations(document, names).map((element) => {
    const group = childText(document.text, element, 'group')
    return {
      element,
      line: lineNumberAt(document.text, element.start),
      managed: insideRegion(regions, element.start)?.id === INTEGRATION_REGION,
      groups: group === undefined ? [] : group.split(',').filter((entry) => entry !== ''),
      alertFormat: childText(document.text, element, 'alert_format'),
      tags: element.children.map((child) => child.name),
    }
  })
}

export interface OssecConfEdit {
  text: string
  /** Plan notes on parts the edit takes over or removes besides writing the managed block. */
  notes: string[]
}

/**
 * Puts the managed integration block into ossec.conf. An existing managed region is replaced in
 * place. Otherwise the first hand-made MISP block (custom-misp or custom-misp.py) is replaced by
 * the managed region, or, when there is none, the region goes at the end of the first
 * `<ossec_config>`. Further hand-made MISP blocks are removed, because each block is a separate
 * integration and two blocks would look up every alert twice.
 */
export function editOssecConf(document: WazuhXmlDocument, integrationXml: string): OssecConfEdit {
  const {text, indentUnit, eol, file} = document
  const roots = ossecConfigRoots(document)
  const first = roots[0]
  if (!first) {
    throw new MispwazuhError(`${file} has no <ossec_config> element.`, {
      code: 'wazuh_config_invalid',
      exitCode: ExitCode.validationFailed,
      fix: `Check that ${file} is the manager's configuration; a stock one holds <ossec_config> sections.`,
    })
  }

  const regions = findManagedRegions(text, file)
  const region = regions.find((candidate) => candidate.id === INTEGRATION_REGION)
  const handMade = findIntegrations(document, HAND_MADE_INTEGRATION_NAMES).filter((element) => !insideRegion(regions, element.start))
  const edits: TextEdit[] = []
  const notes: string[] = []

  if (region) {
    edits.push(replaceRegionEdit(region, renderManagedRegion(INTEGRATION_REGION, integrationXml, region.indent, indentUnit, eol)))
  } else if (handMade.length > 0) {
    const adopted = handMade.shift() as XmlElement
    edits.push(replaceElementWithRegion(text, adopted, integrationXml, indentUnit, eol))
    notes.push(`takes over the hand-made ${childText(text, adopted, 'name')} <integration> block at line ${lineNumberAt(text, adopted.start)} and replaces it with the managed one`)
  } else {
    edits.push(insertAtEndOfElement(text, first, integrationXml, indentUnit, eol))
  }

  for (const extra of handMade) {
    edits.push(removeElementEdit(text, extra))
    notes.push(`removes a second ${childText(text, extra, 'name')} <integration> block at line ${lineNumberAt(text, extra.start)} (two blocks run the integration twice per alert)`)
  }

  return {text: applyEdits(text, edits), notes}
}

function replaceElementWithRegion(text: string, element: XmlElement, body: string, indentUnit: string, eol: string): TextEdit {
  const indent = indentAt(text, element.start)
  const region = renderManagedRegion(INTEGRATION_REGION, body, indent, indentUnit, eol)
  if (startsLine(text, element.start) && endsLine(text, element.end)) {
    return {start: lineStartAt(text, element.start), end: lineEndAt(text, element.end), replacement: region}
  }

  // The block shares a line with other markup: put the region on lines of its own.
  return {start: element.start, end: element.end, replacement: `${eol}${region}${indent}`}
}

/** Returns the edit that inserts a managed region as the last child of an element, one level deeper than the element. */
function insertAtEndOfElement(text: string, element: XmlElement, body: string, indentUnit: string, eol: string): TextEdit {
  const indent = indentAt(text, element.start) + indentUnit
  const region = renderManagedRegion(INTEGRATION_REGION, body, indent, indentUnit, eol)
  if (startsLine(text, element.innerEnd)) {
    const at = lineStartAt(text, element.innerEnd)
    // Keep the file's habit of a blank line between sections when the closing tag follows one.
    const previousLine = text.slice(lineStartAt(text, Math.max(0, at - 1)), at)
    const blankBefore = at > 0 && previousLine.trim() === ''
    return {start: at, end: at, replacement: blankBefore ? `${region}${eol}` : region}
  }

  return {start: element.innerEnd, end: element.innerEnd, replacement: `${eol}${region}${indentAt(text, element.start)}`}
}

/** Returns the text of every `<ruleset>` child for messages, e.g. to show a second section. */
export function describeRulesetSections(document: WazuhXmlDocument): string[] {
  return descendants(ossecConfigRoots(document))
    .filter((element) => element.name === 'ruleset')
    .map((element) => `line ${lineNumberAt(document.text, element.start)}: ${element.children.map((child) => `<${child.name}>${elementText(document.text, child)}`).join(' ')}`)
}
