/**
 * vitest global setup: removes test servers left by killed runs, then builds the cached Debian
 * root filesystem once, before any test file starts a server. The returned teardown removes
 * the servers of workers that died without stopping them.
 */
import fs from 'node:fs'
import {cleanStaleTestServers, ensureRootfs, pruneOldRootfs} from './test-server.js'

function log(line: string): void {
  process.stderr.write(`[test-server] ${line}\n`)
}

export default async function setup(): Promise<() => void> {
  // Test servers mount filesystems and chroot, which needs root and debootstrap. Without them,
  // unit tests still run, and startTestServer fails with the reason.
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/sbin/debootstrap')) {
    log('Skipping the root filesystem build: it needs root and debootstrap (apt-get install debootstrap).')
    return () => {}
  }

  cleanStaleTestServers(log)
  const rootfs = await ensureRootfs(log)
  if (rootfs.built) log(`Built ${rootfs.path} in ${(rootfs.durationMs / 1000).toFixed(1)} s`)
  pruneOldRootfs(log)

  return () => cleanStaleTestServers(log)
}
