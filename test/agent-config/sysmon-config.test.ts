import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

import {XMLParser} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../src/errors.js'
import {INTEGRATION_EVENT_IDS, inspectSysmonConfig, shippedSysmonConfig, SYSMON_EVENT_IDS} from '../../src/windows/sysmon-config.js'

const SHIPPED_PATH = 'templates/sysmon/mispwazuh-sysmon.xml'

// Filter fields per event type in Sysmon schema 4.90 (the fields each event carries). Sysmon
// rejects a configuration that filters on a field the event type does not have.
const FIELDS: Record<string, readonly string[]> = {
  ProcessCreate: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'FileVersion', 'Description', 'Product', 'Company', 'OriginalFileName', 'CommandLine', 'CurrentDirectory', 'User', 'LogonGuid', 'LogonId', 'TerminalSessionId', 'IntegrityLevel', 'Hashes', 'ParentProcessGuid', 'ParentProcessId', 'ParentImage', 'ParentCommandLine', 'ParentUser'],
  NetworkConnect: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'User', 'Protocol', 'Initiated', 'SourceIsIpv6', 'SourceIp', 'SourceHostname', 'SourcePort', 'SourcePortName', 'DestinationIsIpv6', 'DestinationIp', 'DestinationHostname', 'DestinationPort', 'DestinationPortName'],
  DriverLoad: ['RuleName', 'UtcTime', 'ImageLoaded', 'Hashes', 'Signed', 'Signature', 'SignatureStatus'],
  ImageLoad: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'ImageLoaded', 'FileVersion', 'Description', 'Product', 'Company', 'OriginalFileName', 'Hashes', 'Signed', 'Signature', 'SignatureStatus', 'User'],
  FileCreateStreamHash: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'TargetFilename', 'CreationUtcTime', 'Hash', 'Contents', 'User'],
  DnsQuery: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'QueryName', 'QueryStatus', 'QueryResults', 'Image', 'User'],
  FileDelete: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'User', 'Image', 'TargetFilename', 'Hashes', 'IsExecutable', 'Archived'],
  ClipboardChange: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'Session', 'ClientInfo', 'Hashes', 'Archived', 'User'],
  FileDeleteDetected: ['RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'User', 'Image', 'TargetFilename', 'Hashes', 'IsExecutable'],
}

const CONDITIONS = new Set(['is', 'is not', 'is any', 'contains', 'contains any', 'contains all', 'excludes', 'excludes any', 'excludes all', 'begin with', 'not begin with', 'end with', 'not end with', 'less than', 'more than', 'image'])

type Node = Record<string, unknown>

function filters(xml: string): Array<{event: string; onmatch: string; node: Node}> {
  const parser = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '@_', isArray: () => true, parseTagValue: false})
  const root = ((parser.parse(xml) as Node).Sysmon as Node[])[0] as Node
  const found: Array<{event: string; onmatch: string; node: Node}> = []
  for (const filtering of root.EventFiltering as Node[]) {
    for (const group of (filtering.RuleGroup as Node[] | undefined) ?? []) {
      for (const [event, nodes] of Object.entries(group)) {
        if (event.startsWith('@_')) continue
        for (const node of nodes as Node[]) found.push({event, onmatch: String(node['@_onmatch']), node})
      }
    }
  }

  return found
}

/** Returns every field element of a filter, looking inside <Rule> groups. */
function fieldElements(node: Node): Array<{field: string; condition: string; value: string}> {
  const fields: Array<{field: string; condition: string; value: string}> = []
  for (const [name, children] of Object.entries(node)) {
    if (name.startsWith('@_') || name === '#text') continue
    for (const child of children as Node[]) {
      if (name === 'Rule') fields.push(...fieldElements(child))
      else fields.push({field: name, condition: String(child['@_condition']), value: [child['#text'] ?? ''].flat().join('')})
    }
  }

  return fields
}

describe('shipped Sysmon configuration', () => {
  const xml = shippedSysmonConfig()

  it('is the file under templates/sysmon', () => {
    expect(xml).toBe(readFileSync(SHIPPED_PATH, 'utf8'))
  })

  it('is well-formed XML for a second parser', () => {
    // Python's expat is independent of fast-xml-parser and rejects what libxml2 (Sysmon's
    // parser) rejects, including "--" inside comments.
    const program = 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(d.documentElement.tagName, d.documentElement.getAttribute("schemaversion"))'
    expect(execFileSync('python3', ['-c', program, SHIPPED_PATH], {encoding: 'utf8'}).trim()).toBe('Sysmon 4.90')
  })

  it('declares schema version 4.90', () => {
    expect(inspectSysmonConfig(xml).schemaVersion).toBe('4.90')
  })

  it('hashes with SHA256, SHA1, MD5 and IMPHASH', () => {
    const {hashAlgorithms} = inspectSysmonConfig(xml)
    for (const algorithm of ['SHA256', 'SHA1', 'MD5', 'IMPHASH']) expect(hashAlgorithms).toContain(algorithm)
  })

  it('logs every event type the integration looks up', () => {
    const {enabledEventIds} = inspectSysmonConfig(xml)
    for (const id of INTEGRATION_EVENT_IDS) expect(enabledEventIds, `event ID ${id}`).toContain(id)
  })

  it('covers file delete events both archived and detected', () => {
    const {enabledEventIds} = inspectSysmonConfig(xml)
    expect(enabledEventIds).toContain(23)
    expect(enabledEventIds).toContain(26)
  })

  it('logs no event type the integration ignores', () => {
    const {enabledEventIds} = inspectSysmonConfig(xml)
    expect(enabledEventIds.filter((id) => !INTEGRATION_EVENT_IDS.includes(id))).toEqual([])
  })

  it('captures the clipboard so that event 24 is logged', () => {
    expect(inspectSysmonConfig(xml).captureClipboard).toBe(true)
  })

  it('names only known event types with a valid onmatch', () => {
    for (const filter of filters(xml)) {
      expect(Object.keys(SYSMON_EVENT_IDS), filter.event).toContain(filter.event)
      expect(['include', 'exclude'], filter.event).toContain(filter.onmatch)
    }
  })

  it('filters only on fields each event type has', () => {
    for (const filter of filters(xml)) {
      for (const field of fieldElements(filter.node)) {
        expect(FIELDS[filter.event], `${filter.event} has no field list in this test`).toBeDefined()
        expect(FIELDS[filter.event], `${filter.event}/${field.field}`).toContain(field.field)
        expect(CONDITIONS.has(field.condition), `${filter.event}/${field.field} condition "${field.condition}"`).toBe(true)
        expect(field.value.length, `${filter.event}/${field.field} value`).toBeGreaterThan(0)
      }
    }
  })

  it('blocks nothing with the file block event types', () => {
    for (const filter of filters(xml).filter((item) => item.event.startsWith('FileBlock'))) {
      expect(filter.onmatch).toBe('include')
      expect(fieldElements(filter.node)).toEqual([])
    }
  })

  it('archives only executables from user-writable folders', () => {
    const fileDelete = filters(xml).filter((item) => item.event === 'FileDelete')
    expect(fileDelete.map((item) => item.onmatch)).toEqual(['include'])
    const rules = (fileDelete[0]?.node.Rule as Node[] | undefined) ?? []
    expect(rules.length).toBeGreaterThan(0)
    for (const rule of rules) {
      expect(fieldElements(rule)).toContainEqual({field: 'IsExecutable', condition: 'is', value: 'true'})
    }
  })

  it('has no here-string terminator line', () => {
    expect(xml).not.toMatch(/^['\u2018\u2019\u201A\u201B]@/m)
  })
})

describe('inspectSysmonConfig', () => {
  it('treats an empty include filter as off and an exclude filter as on', () => {
    const xml = `<Sysmon schemaversion="4.90"><HashAlgorithms>sha256</HashAlgorithms><EventFiltering>
      <RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="include"/></RuleGroup>
      <RuleGroup name="" groupRelation="or"><DnsQuery onmatch="exclude"/></RuleGroup>
      <NetworkConnect onmatch="include"><DestinationPort condition="is">443</DestinationPort></NetworkConnect>
    </EventFiltering></Sysmon>`
    const summary = inspectSysmonConfig(xml)
    expect(summary.enabledEventIds).toEqual([3, 22])
    expect(summary.hashAlgorithms).toEqual(['SHA256'])
    expect(summary.captureClipboard).toBe(false)
  })

  it('rejects XML that is not well formed', () => {
    expect(() => inspectSysmonConfig('<Sysmon schemaversion="4.90"><EventFiltering></Sysmon>', 'config.xml')).toThrow(InvalidInputError)
    expect(() => inspectSysmonConfig('<Sysmon schemaversion="4.90"><EventFiltering></Sysmon>', 'config.xml')).toThrow(/config.xml is not well-formed XML/)
  })

  it('rejects a document without a Sysmon root or schema version', () => {
    expect(() => inspectSysmonConfig('<Config/>')).toThrow(/no <Sysmon> root element/)
    expect(() => inspectSysmonConfig('<Sysmon/>')).toThrow(/no valid schemaversion/)
  })
})
