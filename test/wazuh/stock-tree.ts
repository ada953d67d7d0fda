import {execFileSync} from 'node:child_process'
import {chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

/**
 * A temporary Wazuh manager tree laid out like /var/ossec from the stock 4.12 fixtures, with
 * the owners and modes the installer sets, and small stand-ins for the programs mispwazuh runs:
 * bin/wazuh-control (prints `info`), bin/wazuh-analysisd and bin/wazuh-integratord (`-t`).
 *
 * The wazuh-analysisd stand-in prints the file `<tree>/validator-output` and exits with the
 * status in `<tree>/validator-status`, but only once local_rules.xml contains mispwazuh's
 * region. So the check before an apply passes and the check after it fails, as with a real
 * rejection.
 */
const FIXTURES = 'test/fixtures/wazuh'

export interface StockTree {
  dir: string
  file(relative: string): string
  read(relative: string): string
  write(relative: string, text: string): void
  /** Makes the validators fail after a change with this output and exit status. */
  failValidation(output: string, status: number): void
  /** Every file under the tree (relative path -> bytes, owner, mode), to compare before and after. */
  snapshot(): Map<string, {content: Buffer; uid: number; gid: number; mode: number}>
  remove(): void
}

export function ensureWazuhAccount(): {uid: number; gid: number} {
  try {
    execFileSync('getent', ['group', 'wazuh'], {stdio: 'ignore'})
  } catch {
    execFileSync('groupadd', ['-f', '-r', 'wazuh'])
  }

  try {
    execFileSync('getent', ['passwd', 'wazuh'], {stdio: 'ignore'})
  } catch {
    execFileSync('useradd', ['-r', '-g', 'wazuh', '-M', '-s', '/usr/sbin/nologin', 'wazuh'])
  }

  const uid = Number(execFileSync('id', ['-u', 'wazuh']).toString().trim())
  const gid = Number(execFileSync('getent', ['group', 'wazuh']).toString().split(':')[2])
  return {uid, gid}
}

export function createStockTree(options: {version?: string} = {}): StockTree {
  const {uid, gid} = ensureWazuhAccount()
  const dir = mkdtempSync(path.join(tmpdir(), 'mispwazuh-ossec-'))
  chmodSync(dir, 0o750)

  const place = (relative: string, source: string, owner: number, mode: number): void => {
    const target = path.join(dir, relative)
    copyFileSync(source, target)
    chownSync(target, owner, gid)
    chmodSync(target, mode)
  }

  for (const [relative, mode, owner] of [['etc', 0o770, 0], ['etc/rules', 0o770, 0], ['etc/decoders', 0o770, 0], ['ruleset', 0o750, 0], ['ruleset/rules', 0o750, 0], ['bin', 0o750, 0]] as const) {
    mkdirSync(path.join(dir, relative))
    chownSync(path.join(dir, relative), owner, gid)
    chmodSync(path.join(dir, relative), mode)
  }

  place('etc/ossec.conf', `${FIXTURES}/config/ossec.conf.manager-ubuntu24.04-v4.12.0.xml`, 0, 0o660)
  place('etc/rules/local_rules.xml', `${FIXTURES}/rules/local_rules.xml`, uid, 0o660)
  place('etc/decoders/local_decoder.xml', `${FIXTURES}/config/local_decoder.xml`, uid, 0o660)
  for (const name of readdirSync(`${FIXTURES}/rules`)) {
    if (name === 'local_rules.xml') continue
    place(`ruleset/rules/${name}`, `${FIXTURES}/rules/${name}`, 0, 0o640)
  }

  const version = options.version ?? '4.12.0'
  const script = (relative: string, body: string): void => {
    const target = path.join(dir, relative)
    writeFileSync(target, `#!/bin/sh\n${body}\n`)
    chownSync(target, 0, gid)
    chmodSync(target, 0o750)
  }

  script('bin/wazuh-control', `case "$1" in\n  info) printf 'WAZUH_VERSION="v${version}"\\nWAZUH_REVISION="rc1"\\nWAZUH_TYPE="server"\\n' ;;\n  *) exit 1 ;;\nesac`)
  const validator = `tree='${dir}'\nif grep -q 'mispwazuh:begin' "$tree/etc/rules/local_rules.xml" 2>/dev/null && [ -f "$tree/validator-output" ]; then\n  cat "$tree/validator-output"\n  exit "$(cat "$tree/validator-status")"\nfi\nexit 0`
  script('bin/wazuh-analysisd', validator)
  script('bin/wazuh-integratord', 'exit 0')

  return {
    dir,
    file: (relative) => path.join(dir, relative),
    read: (relative) => readFileSync(path.join(dir, relative), 'utf8'),
    write: (relative, text) => writeFileSync(path.join(dir, relative), text),
    failValidation(output, status) {
      writeFileSync(path.join(dir, 'validator-output'), output)
      writeFileSync(path.join(dir, 'validator-status'), String(status))
    },
    snapshot() {
      const files = new Map<string, {content: Buffer; uid: number; gid: number; mode: number}>()
      const walk = (relative: string): void => {
        for (const entry of readdirSync(path.join(dir, relative), {withFileTypes: true})) {
          const child = path.join(relative, entry.name)
          if (entry.isDirectory()) {
            walk(child)
          } else {
            const stat = statSync(path.join(dir, child))
            files.set(child, {content: readFileSync(path.join(dir, child)), uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777})
          }
        }
      }

      walk('.')
      return files
    },
    remove: () => rmSync(dir, {recursive: true, force: true}),
  }
}
