/**
 * Benchmark of templates/integrations/custom-misp.py as wazuh-integratord runs it: one process
 * per alert, one at a time, against the MISP double with added latency.
 *
 *   npx tsx bench/integration-bench.ts [--alerts 2000] [--latency-ms 20] [--python /usr/bin/python3] [--precompiled]
 *
 * Prints, per pass, the median and p95 wall time per alert, next to the start of the bare
 * interpreter (`python -c pass`) and one HTTPS round trip to the double. Not part of the test suite.
 *
 * --precompiled runs the script as an imported module with its bytecode compiled ahead of time,
 * started from a three-line launcher, to show what compiling the script on every run costs.
 */
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'
import {startMispDouble, type MispDouble} from '../test/support/misp-double/server.js'
import {startQueueListener} from '../test/support/queue-listener.js'
import {buildAlertMix} from './alert-mix.js'

const {values: options} = parseArgs({
  options: {
    alerts: {type: 'string', default: '2000'},
    'latency-ms': {type: 'string', default: '20'},
    python: {type: 'string', default: fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'},
    precompiled: {type: 'boolean', default: false},
  },
})

const alertCount = Number(options.alerts)
const latencyMs = Number(options['latency-ms'])
const python = options.python as string
const sourceScript = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../templates/integrations/custom-misp.py')

/** Copy the script as module custom_misp.py, compile its bytecode, and return a launcher that imports it. */
async function precompiledLauncher(directory: string): Promise<string> {
  const modulePath = path.join(directory, 'custom_misp.py')
  fs.copyFileSync(sourceScript, modulePath)
  await timedRun(python, ['-m', 'compileall', '-q', modulePath], process.env)
  const launcher = path.join(directory, 'custom-misp-launcher.py')
  fs.writeFileSync(launcher, `import sys\nsys.path.insert(0, ${JSON.stringify(directory)})\nimport custom_misp\ncustom_misp.main()\n`)
  return launcher
}

function percentile(samples: number[], fraction: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number
}

function summary(samples: number[]): {n: number; median: number; p95: number} {
  return {n: samples.length, median: round(percentile(samples, 0.5)), p95: round(percentile(samples, 0.95))}
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {env, stdio: 'ignore'})
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))
      else resolve(performance.now() - started)
    })
  })
}

// Measured inside a fresh interpreter each time, so process start is excluded: where the time of
// a run goes besides the interpreter's own start.
const breakdownSnippet = [
  'import sys, time',
  'started = time.perf_counter()',
  'source = open(sys.argv[1]).read()',
  'compile(source, sys.argv[1], "exec")',
  'compiled = time.perf_counter()',
  'import json',
  'json_imported = time.perf_counter()',
  'import sqlite3',
  'sqlite_imported = time.perf_counter()',
  'import ipaddress',
  'ipaddress_imported = time.perf_counter()',
  'import ssl, socket, http.client',
  'http_imported = time.perf_counter()',
  'print(json.dumps([compiled - started, json_imported - compiled, sqlite_imported - json_imported,',
  '                  ipaddress_imported - sqlite_imported, http_imported - ipaddress_imported]))',
].join('\n')

function breakdownRun(env: NodeJS.ProcessEnv): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', breakdownSnippet, sourceScript], {env, stdio: ['ignore', 'pipe', 'inherit']})
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    child.on('error', reject)
    child.on('close', () => resolve((JSON.parse(output) as number[]).map((seconds) => seconds * 1000)))
  })
}

/** Time one HTTPS request on a new connection (TCP, TLS handshake, restSearch), as the script makes it. */
function roundTrip(misp: MispDouble, ca: Buffer): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const request = https.request(`${misp.url}/attributes/restSearch`, {
      method: 'POST',
      agent: false,
      ca,
      headers: {Authorization: misp.adminKey, Accept: 'application/json', 'Content-Type': 'application/json'},
    }, (response) => {
      response.resume()
      response.on('end', () => resolve(performance.now() - started))
    })
    request.on('error', reject)
    request.end(JSON.stringify({returnFormat: 'json', value: ['bench-round-trip.example'], type: ['domain'], limit: 100}))
  })
}

async function main(): Promise<void> {
  const mix = buildAlertMix(alertCount)
  const misp = await startMispDouble()
  const queue = await startQueueListener()
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-bench-'))
  const script = options.precompiled ? await precompiledLauncher(directory) : sourceScript

  try {
    for (const attribute of mix.planted) misp.store.addEvent({info: `bench ${attribute.value}`, Attribute: [attribute]})
    const configFile = path.join(directory, 'misp.json')
    fs.writeFileSync(configFile, JSON.stringify({
      misp_url: misp.url,
      api_key: misp.adminKey,
      ca_file: misp.caFile,
      queue_socket: queue.path,
      log_file: path.join(directory, 'integrations.log'),
      cache_dir: path.join(directory, 'cache'),
      state_file: path.join(directory, 'state.json'),
      // A pass takes minutes on a busy machine, longer than the default miss TTL; pass 2 must
      // find every value cached.
      cache_hit_ttl: 86400,
      cache_miss_ttl: 86400,
    }), {mode: 0o640})
    const env = {...process.env, MISPWAZUH_INTEGRATION_CONFIG: configFile}

    const alertFiles = mix.alerts.map((alert, index) => {
      const file = path.join(directory, `custom-misp-${index}.alert`)
      fs.writeFileSync(file, `${JSON.stringify(alert)}\n`)
      return file
    })

    // Other work on the machine changes every figure. So each alert run is paired with a bare
    // interpreter start made just before it (in pass 1 also an HTTPS round trip), and each
    // target comes from the figures of its own pass.
    const integratordArgs = ['', '', '', '', '10', '3', '> /dev/null 2>&1']
    const breakdowns: number[][] = []
    for (let run = 0; run < 50; run += 1) breakdowns.push(await breakdownRun(env))
    const part = (index: number) => summary(breakdowns.map((parts) => parts[index] as number)).median

    misp.faults.set({latencyMs})
    const ca = fs.readFileSync(misp.caFile)

    // Pass 1 starts with an empty cache; an alert is "cold" when its run sent a restSearch.
    const bareDuringPass1: number[] = []
    const trips: number[] = []
    const cold: number[] = []
    const servedFromCache: number[] = []
    for (const file of alertFiles) {
      bareDuringPass1.push(await timedRun(python, ['-c', 'pass'], env))
      trips.push(await roundTrip(misp, ca))
      const requestsBefore = misp.requests.length
      const duration = await timedRun(python, [script, file, ...integratordArgs], env)
      if (misp.requests.length > requestsBefore) cold.push(duration)
      else servedFromCache.push(duration)
    }

    // Pass 2 replays the same alerts with every value cached.
    const requestsBeforeWarm = misp.requests.length
    const bareDuringPass2: number[] = []
    const warm: number[] = []
    for (const file of alertFiles) {
      bareDuringPass2.push(await timedRun(python, ['-c', 'pass'], env))
      warm.push(await timedRun(python, [script, file, ...integratordArgs], env))
    }
    const warmRequests = misp.requests.length - requestsBeforeWarm

    const bare1 = summary(bareDuringPass1)
    const bare2 = summary(bareDuringPass2)
    const tripSummary = summary(trips)
    const coldSummary = summary(cold)
    const warmSummary = summary(warm)
    const result = {
      machine: {cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: round(os.totalmem() / 2 ** 30), kernel: os.release()},
      loadAverageAtEnd: os.loadavg().map(round),
      python,
      precompiled: options.precompiled,
      alerts: alertCount,
      latencyMs,
      planted: mix.planted.length,
      queueMessages: queue.messages.length,
      inProcessMedianMs: {
        compileScript: part(0),
        importJson: part(1),
        importSqlite3: part(2),
        importIpaddress: part(3),
        importSslSocketHttpClient: part(4),
      },
      pass1: {
        bareInterpreterMs: bare1,
        httpsRoundTripMs: tripSummary,
        coldMs: coldSummary,
        fromCacheMs: summary(servedFromCache),
        coldTargetMs: round(bare1.median + tripSummary.median),
      },
      pass2: {
        bareInterpreterMs: bare2,
        warmMs: warmSummary,
        warmRequests,
        warmTargetMs: round(bare2.median * 1.15),
        warmToBareRatio: Math.round((warmSummary.median / bare2.median) * 100) / 100,
      },
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } finally {
    await queue.stop()
    await misp.stop()
    fs.rmSync(directory, {recursive: true, force: true})
  }
}

await main()
