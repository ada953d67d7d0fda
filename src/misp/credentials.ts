import path from 'node:path/posix'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import {AUTH_KEY_PATTERN, MispClient} from './client.js'
import {parseEnv} from './env-file.js'

export const DEFAULT_CREDENTIALS_FILE = '/etc/mispwazuh/misp-credentials'

/** Access to MISP as the credentials file on the target records it, with both keys read and registered with the redactor. */
export interface MispAccess {
  credentialsFile: string
  url: string
  /** PEM the clients must trust (CA certificate, or the pinned server certificate). */
  caPem: string
  pinnedFingerprint: string | undefined
  adminKey: string
  /** Undefined when the Wazuh key file is missing or does not hold a 40-character key. */
  wazuhKey: string | undefined
  wazuhUser: string | undefined
  values: Map<string, string>
}

/**
 * Reads the credentials file that setup wrote on the target, then the key files and the CA it
 * names. Every secret is registered with the redactor before anything is logged.
 */
export async function readMispAccess(target: Target, redactor: Redactor, credentialsFile = DEFAULT_CREDENTIALS_FILE): Promise<MispAccess> {
  if (!(await target.exists(credentialsFile))) {
    throw new MispwazuhError(`The MISP credentials file ${credentialsFile} does not exist on ${target.name}.`, {code: 'misp_credentials_missing', exitCode: ExitCode.mispFailed, fix: 'Run `mispwazuh setup` first.'})
  }

  const values = parseEnv(await target.readText(credentialsFile))
  redactor.register(values.get('MISP_ADMIN_PASSWORD'), 'misp-admin-password')
  const url = values.get('MISP_URL')
  const caFile = values.get('MISP_CA_FILE')
  const adminKey = await readKey(target, values.get('MISP_ADMIN_KEY_FILE'), redactor)
  const wazuhKey = await readKey(target, values.get('MISP_WAZUH_KEY_FILE'), redactor)
  const caPem = caFile && (await target.exists(caFile)) ? await target.readText(caFile) : undefined

  const missing = [!url && 'MISP_URL', !adminKey && `a valid admin key in ${values.get('MISP_ADMIN_KEY_FILE') ?? 'MISP_ADMIN_KEY_FILE'}`, !caPem && `the CA file ${caFile ?? 'MISP_CA_FILE'}`].filter(Boolean)
  if (!url || !adminKey || !caPem) {
    throw new MispwazuhError(`${credentialsFile} on ${target.name} is incomplete: missing ${missing.join(', ')}.`, {code: 'misp_credentials_incomplete', exitCode: ExitCode.mispFailed, fix: 'Run `mispwazuh setup` again to write it.'})
  }

  return {credentialsFile, url, caPem, pinnedFingerprint: values.get('MISP_PINNED_SHA256'), adminKey, wazuhKey, wazuhUser: values.get('MISP_WAZUH_USER'), values}
}

/** Returns a client for MISP with the given key, trusting exactly what the credentials file names. */
export function mispClientFor(access: MispAccess, key: string, log?: RunLog): MispClient {
  return new MispClient({url: access.url, key, ca: access.caPem, pinnedFingerprint: access.pinnedFingerprint, retries: 1, log: log ? (line) => log.info(line) : undefined})
}

export function credentialsFileIn(configDir: string): string {
  return path.join(configDir, 'misp-credentials')
}

async function readKey(target: Target, file: string | undefined, redactor: Redactor): Promise<string | undefined> {
  if (!file || !(await target.exists(file))) return undefined
  const key = (await target.readText(file)).trim()
  redactor.register(key, 'misp-auth-key')
  return AUTH_KEY_PATTERN.test(key) ? key : undefined
}
