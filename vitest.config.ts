import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {defineConfig} from 'vitest/config'

// Test files that install the Wazuh stand-ins start daemons on Wazuh's fixed ports (55000 for
// the server API, 1514-1516, the dashboard port) inside a test server, and test servers share
// this machine's network namespace. Those files run one at a time, after the others: the
// folders below, and any other test file that installs the stand-ins itself.
const STANDIN_USE = /installWazuhStandins|prepareSetupLab|runWazuhInstaller/
const WAZUH_STANDIN_FILES = [
  'test/setup/**/*.test.ts',
  'test/verify/**/*.test.ts',
  'test/agent-config/**/*.test.ts',
  ...testFiles('test').filter((file) => STANDIN_USE.test(readFileSync(file, 'utf8'))),
]

function testFiles(directory: string): string[] {
  return readdirSync(directory, {withFileTypes: true}).flatMap((entry) => {
    const file = path.join(directory, entry.name)
    if (entry.isDirectory()) return entry.name === 'support' || entry.name === 'fixtures' ? [] : testFiles(file)
    return entry.name.endsWith('.test.ts') ? [file] : []
  })
}

const shared = {
  testTimeout: 60_000,
  hookTimeout: 300_000,
  disableConsoleIntercept: true,
  globalSetup: ['test/support/global-setup.ts'],
}

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: WAZUH_STANDIN_FILES,
          // Each test file may hold a test server (sshd plus an overlay mount); 2 cores.
          maxWorkers: 2,
          sequence: {groupOrder: 0},
        },
      },
      {
        test: {
          ...shared,
          name: 'wazuh-standins',
          include: WAZUH_STANDIN_FILES,
          maxWorkers: 1,
          fileParallelism: false,
          sequence: {groupOrder: 1},
        },
      },
    ],
  },
})
