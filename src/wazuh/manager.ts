import path from 'node:path'

import type {Target} from '../target/target.js'

/** The Wazuh manager's installation directory on a package install. */
export const DEFAULT_WAZUH_DIR = '/var/ossec'

export interface ManagerFacts {
  wazuhDir: string
  /** Both bin/wazuh-control and etc/ossec.conf exist. */
  installed: boolean
  /** The version without its `v`, e.g. `4.12.0`; undefined when it could not be read. */
  version: string | undefined
  /** `server` for a manager, `agent` for an agent, as `wazuh-control info` prints it. */
  type: string | undefined
}

export function wazuhPaths(wazuhDir: string = DEFAULT_WAZUH_DIR) {
  return {
    ossecConf: path.posix.join(wazuhDir, 'etc', 'ossec.conf'),
    rulesDir: path.posix.join(wazuhDir, 'etc', 'rules'),
    localRules: path.posix.join(wazuhDir, 'etc', 'rules', 'local_rules.xml'),
    mispRules: path.posix.join(wazuhDir, 'etc', 'rules', 'misp.xml'),
    wazuhControl: path.posix.join(wazuhDir, 'bin', 'wazuh-control'),
    analysisd: path.posix.join(wazuhDir, 'bin', 'wazuh-analysisd'),
    integratord: path.posix.join(wazuhDir, 'bin', 'wazuh-integratord'),
    stateDir: path.posix.join(wazuhDir, 'etc', 'mispwazuh'),
    integrationsDir: path.posix.join(wazuhDir, 'integrations'),
  }
}

/**
 * Parses the output of `wazuh-control info`: shell assignments such as
 * `WAZUH_VERSION="v4.12.0"`, `WAZUH_REVISION="rc1"` and `WAZUH_TYPE="server"`.
 */
export function parseWazuhControlInfo(output: string): {version: string | undefined; revision: string | undefined; type: string | undefined} {
  const values = new Map<string, string>()
  for (const line of output.split('\n')) {
    const match = /^\s*(WAZUH_[A-Z_]+)=["']?([^"'\s]*)["']?\s*$/.exec(line)
    if (match) values.set(match[1] as string, match[2] as string)
  }

  const rawVersion = values.get('WAZUH_VERSION')
  const version = rawVersion && /^v?\d+\.\d+\.\d+/.test(rawVersion) ? /^v?(\d+\.\d+\.\d+)/.exec(rawVersion)?.[1] : undefined
  return {version, revision: values.get('WAZUH_REVISION'), type: values.get('WAZUH_TYPE')}
}

/** Reads whether a manager is installed under `wazuhDir` and its version from `wazuh-control info`. */
export async function readManagerFacts(target: Target, wazuhDir: string = DEFAULT_WAZUH_DIR): Promise<ManagerFacts> {
  const paths = wazuhPaths(wazuhDir)
  const [control, conf] = await Promise.all([target.stat(paths.wazuhControl), target.stat(paths.ossecConf)])
  const installed = control?.type === 'file' && conf?.type === 'file'
  if (!installed) return {wazuhDir, installed: false, version: undefined, type: undefined}

  const result = await target.exec([paths.wazuhControl, 'info'], {allowExitCodes: 'any', timeoutMs: 30_000})
  const info = result.exitCode === 0 ? parseWazuhControlInfo(result.stdout) : {version: undefined, type: undefined}
  return {wazuhDir, installed: true, version: info.version, type: info.type}
}

/**
 * Compares two dotted versions numerically: negative when a < b, 0 when equal, positive when
 * a > b. A leading "v" and suffixes such as "-1" or "+build" are ignored ("v4.12.0" = "4.12.0").
 */
export function compareVersions(a: string, b: string): number {
  const parts = (version: string) => version.replace(/^v/, '').split(/[.+-]/).map((part) => Number.parseInt(part, 10) || 0)
  const left = parts(a)
  const right = parts(b)
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0)
    if (difference !== 0) return difference
  }

  return 0
}

/**
 * Tells whether wazuh-integratord accepts `<timeout>` and `<retries>` in `<integration>`: they
 * were added in 4.8.0, and an unknown tag stops the manager from starting. An unknown version
 * counts as not supported.
 */
export function supportsIntegrationTimeout(version: string | undefined): boolean {
  return version !== undefined && compareVersions(version, '4.8.0') >= 0
}
