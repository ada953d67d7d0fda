import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {useTestServer} from '../support/test-server.js'
import {buildChain, type Chain} from './chain.js'

describe('verify on a wired chain', () => {
  const server = useTestServer()
  let chain: Chain

  beforeAll(async () => {
    chain = await buildChain(server())
  }, 600_000)

  afterAll(async () => {
    await chain?.stop()
  })

  it('passes every hop and the canary, then removes the canary', async () => {
    const {cli, report} = await chain.verify(['--canary-timeout', '30'])
    const failed = report.hops.filter((hop) => hop.status !== 'pass').map((hop) => `${hop.id}: ${hop.found} ${hop.fix ?? ''}`)
    expect(failed).toEqual([])
    expect(cli.exitCode).toBe(0)
    console.log(JSON.stringify(report, null, 2))
  }, 300_000)
})
