import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {runCli} from '../support/cli.js'
import {createStockTree, type StockTree} from './stock-tree.js'

// These run the built CLI (bin/run.js loads dist/), as `npm test` builds before testing.
let tree: StockTree

beforeEach(() => {
  tree = createStockTree()
})

afterEach(() => {
  tree.remove()
})

describe('mispwazuh wazuh configure', () => {
  it('dry run prints the diff', async () => {
    const before = tree.snapshot()
    const result = await runCli(['wazuh', 'configure', '--dry-run', '--wazuh-dir', tree.dir])
    expect(result.exitCode).toBe(2)
    expect(result.stdout).toContain(`Would update ${tree.file('etc/ossec.conf')}`)
    expect(result.stdout).toContain('+    <name>custom-misp</name>')
    expect(result.stdout).toContain(`Would create ${tree.file('etc/rules/misp.xml')} (wazuh:wazuh 0660)`)
    expect(result.stdout).toMatch(/Dry run: .*\(3 files change\)\. Nothing was written/)
    expect(tree.snapshot()).toEqual(before)
  })

  it('applies, then reports unchanged', async () => {
    const first = await runCli(['wazuh', 'configure', '--wazuh-dir', tree.dir])
    expect(first.exitCode).toBe(0)
    expect(first.stdout).toContain('Applied: ')
    expect(first.stdout).toContain(`${tree.file('etc/rules/misp.xml')} (created)`)

    const second = await runCli(['wazuh', 'configure', '--wazuh-dir', tree.dir, '--json'])
    expect(second.exitCode).toBe(0)
    const output = JSON.parse(second.stdout) as {step: {status: string; reason: string; changes: unknown[]}; ruleIds: {base: number}}
    expect(output.step.status).toBe('ok')
    expect(output.step.reason).toMatch(/^unchanged: /)
    expect(output.step.changes).toEqual([])
    expect(output.ruleIds.base).toBe(100_600)
  })

  it('collision exits 22 with the fix', async () => {
    tree.write('etc/rules/local_rules.xml', `${tree.read('etc/rules/local_rules.xml')}\n<group name="local,">\n  <rule id="100600" level="3">\n    <if_sid>100001</if_sid>\n    <description>taken</description>\n  </rule>\n</group>\n`)
    const before = tree.snapshot()
    const result = await runCli(['wazuh', 'configure', '--wazuh-dir', tree.dir, '--rule-id-base', '100600'])
    expect(result.exitCode).toBe(22)
    expect(result.stderr).toContain('rule 100600 in etc/rules/local_rules.xml line 2')
    expect(result.stderr).toContain('Fix: Run again with --rule-id-base 100610')
    expect(tree.snapshot()).toEqual(before)
  })

  it('rejects an invalid rule ID base', async () => {
    const result = await runCli(['wazuh', 'configure', '--wazuh-dir', tree.dir, '--rule-id-base', '99999'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Invalid value "99999" for --rule-id-base')
  })

  it('reports a missing manager', async () => {
    const result = await runCli(['wazuh', 'configure', '--wazuh-dir', `${tree.dir}/missing`])
    expect(result.exitCode).toBe(20)
    expect(result.stderr).toContain('No Wazuh manager found')
  })
})

describe('mispwazuh wazuh rollback', () => {
  it('restores the stock files', async () => {
    const before = tree.snapshot()
    expect((await runCli(['wazuh', 'configure', '--wazuh-dir', tree.dir])).exitCode).toBe(0)

    const preview = await runCli(['wazuh', 'rollback', '--dry-run', '--wazuh-dir', tree.dir])
    expect(preview.exitCode).toBe(2)
    expect(preview.stdout).toContain(`remove ${tree.file('etc/rules/misp.xml')} (created by the apply)`)

    const result = await runCli(['wazuh', 'rollback', '--wazuh-dir', tree.dir])
    expect(result.exitCode).toBe(0)
    const after = tree.snapshot()
    for (const [file, state] of before) expect(after.get(file), file).toEqual(state)

    const again = await runCli(['wazuh', 'rollback', '--wazuh-dir', tree.dir])
    expect(again.exitCode).toBe(1)
    expect(again.stderr).toContain('No mispwazuh apply to roll back')
  })
})
