/**
 * Wall time and files written by `mispwazuh setup` re-run on a converged test server over SSH.
 * Starts a Debian test server with the docker and Wazuh stand-ins, runs setup once to converge,
 * then re-runs it and reports the median and slowest wall time and the files written.
 *
 * Usage (root, after `npm run build`): npx tsx bench/setup-rerun.ts [runs]
 */
import {cpus} from 'node:os'

import {managedFileStats} from '../test/setup/support.js'
import {hostFlags, runCli} from '../test/support/cli.js'
import {prepareSetupLab} from '../test/support/setup-lab.js'
import {startTestServer} from '../test/support/test-server.js'

const runs = Number(process.argv[2] ?? 5)
const server = await startTestServer()
const lab = await prepareSetupLab(server)
try {
  const flags = ['setup', ...hostFlags(server), ...lab.setupFlags]
  const first = await runCli(flags)
  if (first.exitCode !== 0) throw new Error(`the converging run failed:\n${first.stdout}`)

  const times: number[] = []
  let written = 0
  for (let run = 0; run < runs; run++) {
    const before = await managedFileStats(server)
    const started = process.hrtime.bigint()
    const result = await runCli(flags)
    times.push(Number(process.hrtime.bigint() - started) / 1e6)
    if (result.exitCode !== 0) throw new Error(`re-run ${run + 1} failed:\n${result.stdout}`)
    const after = await managedFileStats(server)
    written += [...after.entries()].filter(([file, stat]) => before.get(file) !== stat).length
  }

  times.sort((a, b) => a - b)
  console.log(`${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} re-runs`)
  console.log(`median ${(times[Math.floor(times.length / 2)]! / 1000).toFixed(2)} s, slowest ${(times.at(-1)! / 1000).toFixed(2)} s, files written ${written}`)
} finally {
  await lab.stop()
  await server.stop()
}
