/**
 * A reproducible mix of Wazuh alerts for the integration benchmark, built from the real Sysmon
 * and FIM alert fixtures: DNS queries, network connections, process creations and file additions.
 * Their domains, addresses and hashes repeat as on real hosts: a few values very often, most rarely.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

type Alert = Record<string, unknown>

const alertsDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/wazuh/alerts')

function loadFixture(name: string): Alert {
  return JSON.parse(fs.readFileSync(path.join(alertsDirectory, name), 'utf8')) as Alert
}

/** mulberry32: a small seeded PRNG, so every run replays the same alerts. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let value = state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }
}

/** Pick an index in [0, size) with a Zipf-like bias towards small indexes. */
function skewedIndex(random: () => number, size: number): number {
  return Math.min(size - 1, Math.floor(size * random() ** 2.5))
}

function hex(random: () => number, length: number): string {
  let text = ''
  while (text.length < length) text += Math.floor(random() * 16).toString(16)
  return text
}

function set(alert: Alert, dottedPath: string, value: unknown): void {
  const keys = dottedPath.split('.')
  let node = alert
  for (const key of keys.slice(0, -1)) node = node[key] as Alert
  node[keys[keys.length - 1] as string] = value
}

export interface AlertMix {
  alerts: Alert[]
  /** Values planted in MISP, by MISP attribute type. */
  planted: {type: string; value: string}[]
  /** Distinct values the alerts carry, per kind. */
  distinct: {domains: number; ips: number; processHashes: number; fileHashes: number}
}

/** Build `count` alerts: 50 % DNS queries, 20 % connections, 20 % process creations, 10 % file additions. */
export function buildAlertMix(count: number, seed = 20261204): AlertMix {
  const random = seededRandom(seed)
  const dnsQuery = loadFixture('sysmon-eid22-dns-query.alert.json')
  const networkConnect = loadFixture('sysmon-eid3-network-connect.alert.json')
  const processCreate = loadFixture('sysmon-eid1-process-create.alert.json')
  const fileAdded = loadFixture('docs-syscheck-554-file-added.alert.json')

  const sites = ['cdn', 'api', 'www', 'static', 'login', 'update', 'telemetry', 'img', 'mail', 'files']
  const domains = Array.from({length: 300}, (_, index) => `${sites[index % sites.length]}.site-${index}.bench.example`)
  const ips = Array.from({length: 200}, (_, index) => `45.${33 + Math.floor(index / 250)}.${index % 250}.${10 + (index % 200)}`)
  const processHashes = Array.from({length: 80}, () => ({sha1: hex(random, 40), md5: hex(random, 32), sha256: hex(random, 64), imphash: hex(random, 32)}))
  const fileHashes = Array.from({length: 100}, () => ({md5: hex(random, 32), sha1: hex(random, 40), sha256: hex(random, 64)}))

  const planted = [
    ...domains.filter((_, index) => index % 25 === 3).map((value) => ({type: 'domain', value: value.split('.').slice(1).join('.')})),
    ...ips.filter((_, index) => index % 20 === 7).map((value) => ({type: 'ip-dst', value})),
    ...processHashes.filter((_, index) => index % 16 === 5).map((hashes) => ({type: 'sha256', value: hashes.sha256})),
    ...fileHashes.filter((_, index) => index % 20 === 9).map((hashes) => ({type: 'md5', value: hashes.md5})),
  ]

  const alerts: Alert[] = []
  for (let index = 0; index < count; index += 1) {
    const roll = random()
    let alert: Alert
    if (roll < 0.5) {
      alert = structuredClone(dnsQuery)
      const domain = domains[skewedIndex(random, domains.length)] as string
      const answer = ips[skewedIndex(random, ips.length)] as string
      set(alert, 'data.win.eventdata.queryName', domain)
      set(alert, 'data.win.eventdata.queryResults', `${answer};`)
    } else if (roll < 0.7) {
      alert = structuredClone(networkConnect)
      set(alert, 'data.win.eventdata.destinationIp', ips[skewedIndex(random, ips.length)] as string)
    } else if (roll < 0.9) {
      alert = structuredClone(processCreate)
      const hashes = processHashes[skewedIndex(random, processHashes.length)] as Record<string, string>
      set(alert, 'data.win.eventdata.hashes', `SHA1=${hashes.sha1?.toUpperCase()},MD5=${hashes.md5?.toUpperCase()},SHA256=${hashes.sha256?.toUpperCase()},IMPHASH=${hashes.imphash?.toUpperCase()}`)
    } else {
      alert = structuredClone(fileAdded)
      const hashes = fileHashes[skewedIndex(random, fileHashes.length)] as Record<string, string>
      set(alert, 'syscheck.md5_after', hashes.md5)
      set(alert, 'syscheck.sha1_after', hashes.sha1)
      set(alert, 'syscheck.sha256_after', hashes.sha256)
    }
    alert.id = `1796411700.${index}`
    alerts.push(alert)
  }

  return {alerts, planted, distinct: {domains: domains.length, ips: ips.length, processHashes: processHashes.length, fileHashes: fileHashes.length}}
}
