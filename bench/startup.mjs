// Start-up time of `mispwazuh --version` and `mispwazuh preflight --help` against `node -e 0`:
// the median of repeated runs of each, run one after another on an otherwise idle machine.
// Usage: npm run build && node bench/startup.mjs [runs]
import {execFileSync} from 'node:child_process'
import {cpus} from 'node:os'
import {fileURLToPath} from 'node:url'

const runs = Number(process.argv[2] ?? 30)
const cli = fileURLToPath(new URL('../bin/run.js', import.meta.url))

const cases = [
  ['node -e 0', ['-e', '0']],
  ['mispwazuh --version', [cli, '--version']],
  ['mispwazuh preflight --help', [cli, 'preflight', '--help']],
]

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

const results = {}
for (const [name, args] of cases) {
  execFileSync(process.execPath, args, {stdio: 'ignore'})
  const times = []
  for (let run = 0; run < runs; run++) {
    const started = process.hrtime.bigint()
    execFileSync(process.execPath, args, {stdio: 'ignore'})
    times.push(Number(process.hrtime.bigint() - started) / 1e6)
  }

  results[name] = median(times)
}

const baseline = results['node -e 0']
console.log(`${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each`)
for (const [name, value] of Object.entries(results)) {
  console.log(`${name.padEnd(28)} median ${value.toFixed(1).padStart(6)} ms  ${(value / baseline).toFixed(2)} x node -e 0`)
}
