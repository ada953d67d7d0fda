import {XMLParser, XMLValidator} from 'fast-xml-parser'

import {InvalidInputError} from '../errors.js'
import {readTemplate} from '../templates.js'

/** Sysmon event types by their configuration element name, with their event IDs. */
export const SYSMON_EVENT_IDS: Readonly<Record<string, readonly number[]>> = {
  ProcessCreate: [1],
  FileCreateTime: [2],
  NetworkConnect: [3],
  ProcessTerminate: [5],
  DriverLoad: [6],
  ImageLoad: [7],
  CreateRemoteThread: [8],
  RawAccessRead: [9],
  ProcessAccess: [10],
  FileCreate: [11],
  RegistryEvent: [12, 13, 14],
  FileCreateStreamHash: [15],
  PipeEvent: [17, 18],
  WmiEvent: [19, 20, 21],
  DnsQuery: [22],
  FileDelete: [23],
  ClipboardChange: [24],
  ProcessTampering: [25],
  FileDeleteDetected: [26],
  FileBlockExecutable: [27],
  FileBlockShredding: [28],
  FileExecutableDetected: [29],
}

/** Event IDs whose values the mispwazuh integration looks up in MISP. */
export const INTEGRATION_EVENT_IDS: readonly number[] = [1, 3, 6, 7, 15, 22, 23, 24, 26]

export interface SysmonConfigSummary {
  schemaVersion: string
  /** Algorithms from `<HashAlgorithms>`, upper case; `*` means all. */
  hashAlgorithms: string[]
  /** Event IDs that at least one filter logs: an exclude filter, or an include filter with rules. */
  enabledEventIds: number[]
  captureClipboard: boolean
}

/** Returns the Sysmon configuration shipped in templates/sysmon/. */
export function shippedSysmonConfig(): string {
  return readTemplate('sysmon', 'mispwazuh-sysmon.xml')
}

type XmlNode = Record<string, unknown>

/**
 * Reads a Sysmon configuration: checks that it is well-formed XML with a `<Sysmon>` root and a
 * schema version, and lists the event types it logs. Sysmon logs everything except the rules
 * for an event type with an exclude filter, and nothing for one with only an empty include
 * filter. This summary follows those rules.
 */
export function inspectSysmonConfig(xml: string, source = 'the Sysmon configuration'): SysmonConfigSummary {
  const valid = XMLValidator.validate(xml)
  if (valid !== true) {
    throw new InvalidInputError(`${source} is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col}).`)
  }

  const parser = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, parseAttributeValue: false, isArray: () => true})
  const document = parser.parse(xml) as XmlNode
  const root = first(document.Sysmon)
  if (!root) throw new InvalidInputError(`${source} has no <Sysmon> root element.`)

  const schemaVersion = String(root['@_schemaversion'] ?? '')
  if (!/^\d+\.\d+$/.test(schemaVersion)) throw new InvalidInputError(`${source} has no valid schemaversion attribute on <Sysmon>.`)

  const hashText = textOf(first(root.HashAlgorithms))
  const hashAlgorithms = hashText.split(',').map((item) => item.trim().toUpperCase()).filter(Boolean)

  const enabled = new Set<number>()
  for (const filtering of asArray(root.EventFiltering)) {
    const containers = [filtering, ...asArray(filtering.RuleGroup)]
    for (const container of containers) {
      for (const [name, ids] of Object.entries(SYSMON_EVENT_IDS)) {
        for (const filter of asArray(container[name])) {
          const onmatch = String(filter['@_onmatch'] ?? '').toLowerCase()
          const hasRules = Object.keys(filter).some((key) => !key.startsWith('@_') && key !== '#text')
          if (onmatch === 'exclude' || (onmatch === 'include' && hasRules)) for (const id of ids) enabled.add(id)
        }
      }
    }
  }

  return {
    schemaVersion,
    hashAlgorithms,
    enabledEventIds: [...enabled].sort((a, b) => a - b),
    captureClipboard: root.CaptureClipboard !== undefined,
  }
}

function asArray(value: unknown): XmlNode[] {
  if (value === undefined) return []
  const list = Array.isArray(value) ? value : [value]
  return list.map((item) => (item !== null && typeof item === 'object' ? (item as XmlNode) : {'#text': item}))
}

function first(value: unknown): XmlNode | undefined {
  return asArray(value)[0]
}

function textOf(node: XmlNode | undefined): string {
  if (!node) return ''
  const text = node['#text']
  return Array.isArray(text) ? text.join('') : String(text ?? '')
}
