import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Test files that start a Debian test server each hold an sshd and an overlay mount;
    // the machines this runs on have 2 cores, so run at most two files at once.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 300_000,
    disableConsoleIntercept: true,
    globalSetup: ['test/support/global-setup.ts'],
  },
})
