import {randomInt} from 'node:crypto'

import {MispwazuhError, ExitCode} from '../errors.js'
import type {StepContext} from '../plan/step.js'
import {AUTH_KEY_PATTERN, MispClient} from './client.js'
import type {MispOptions, MispPaths} from './options.js'

/** Keys of the values the MISP steps put into `StepContext.facts` for later steps (the Wazuh integration, the summary). */
export const MispFacts = {
  /** string: base URL of MISP, e.g. https://192.0.2.10:8443. */
  url: 'misp.url',
  /** string: path on the target of the PEM file every MISP client must trust (CA, or the pinned server certificate). */
  caFile: 'misp.caFile',
  /** string | undefined: SHA-256 fingerprint when the server certificate is pinned instead of verified by a CA. */
  pinnedFingerprint: 'misp.pinnedFingerprint',
  /**
   * string | undefined: with a pinned certificate that does not name the URL's host, a name it
   * does carry. TLS clients verify against that name and connect to the URL's host and port.
   */
  tlsServerName: 'misp.tlsServerName',
  /** string: path on the target of the root-only file holding the MISP admin auth key. */
  adminKeyFile: 'misp.adminKeyFile',
  /** string: path on the target of the root-only file holding the Wazuh user's auth key. */
  wazuhKeyFile: 'misp.wazuhKeyFile',
  /** string: path on the target of the root-only credentials file. */
  credentialsFile: 'misp.credentialsFile',
  /** string: email of the MISP admin. */
  adminEmail: 'misp.adminEmail',
  /** string: email of the dedicated MISP user for Wazuh. */
  wazuhUserEmail: 'misp.wazuhUserEmail',
} as const

/**
 * State shared by the MISP steps of one run. Generated secrets and planned file contents live
 * here, in memory, so a dry run can plan later steps from earlier plans; none of it goes into
 * `facts`, which other parts may print.
 */
export class MispRunState {
  readonly options: MispOptions
  readonly paths: MispPaths
  /** The .env values as they are (or will be after the env step applies). */
  envValues: Map<string, string> | undefined
  /** PEM the clients trust, as written (or planned) on the target. */
  caPem: string | undefined
  pinnedFingerprint: string | undefined
  /** A name the pinned certificate carries, when it does not carry the URL's host. */
  tlsServerName: string | undefined
  /** Set when .env or the TLS files changed, so the start step recreates the containers. */
  restartNeeded = false

  constructor(options: MispOptions, paths: MispPaths) {
    this.options = options
    this.paths = paths
  }

  get url(): string {
    if (this.options.mode === 'existing') return this.options.existingUrl!.replace(/\/+$/, '')
    const host = this.options.serverName.includes(':') ? `[${this.options.serverName}]` : this.options.serverName
    return this.options.httpsPort === 443 ? `https://${host}` : `https://${host}:${this.options.httpsPort}`
  }

  /** Returns the admin auth key: from the options for an existing MISP, from .env for an installed one. */
  async adminKey(context: StepContext): Promise<string | undefined> {
    if (this.options.mode === 'existing') return this.options.existingAdminKey
    const fromEnv = this.envValues?.get('ADMIN_KEY')
    if (fromEnv) return fromEnv

    const key = await readSecretFile(context, this.paths.adminKeyFile)
    return key !== undefined && AUTH_KEY_PATTERN.test(key) ? key : undefined
  }

  /** Returns the trusted PEM: as planned in this run, else as found on the target. */
  async trustedPem(context: StepContext): Promise<string | undefined> {
    if (this.caPem) return this.caPem
    if (!(await context.target.exists(this.paths.caCertFile))) return undefined
    this.caPem = await context.target.readText(this.paths.caCertFile)
    return this.caPem
  }

  /** Returns a client with the admin key, or undefined when the key or CA do not exist yet (a dry run on a fresh host). */
  async adminClient(context: StepContext, overrides: {retries?: number; connectTimeoutMs?: number} = {}): Promise<MispClient | undefined> {
    const key = await this.adminKey(context)
    const ca = await this.trustedPem(context)
    if (!key || !ca) return undefined
    return this.clientWithKey(context, key, ca, overrides)
  }

  clientWithKey(context: StepContext, key: string, ca: string, overrides: {retries?: number; connectTimeoutMs?: number} = {}): MispClient {
    context.redactor.register(key, 'misp-auth-key')
    return new MispClient({
      url: this.url,
      key,
      ca,
      pinnedFingerprint: this.pinnedFingerprint,
      retries: overrides.retries ?? 2,
      retryDelayMs: 1000,
      connectTimeoutMs: overrides.connectTimeoutMs,
      log: (line) => context.log.info(line),
    })
  }

  /** Like adminClient, but fails with a clear error when the key or CA are missing. */
  async requireAdminClient(context: StepContext): Promise<MispClient> {
    const client = await this.adminClient(context)
    if (client) return client
    throw new MispwazuhError(`No MISP admin auth key or trusted certificate found for ${this.url}.`, {
      code: 'misp_admin_key_missing',
      exitCode: ExitCode.mispFailed,
      fix: `Run setup without --skip options so that ${this.paths.adminKeyFile} and ${this.paths.caCertFile} exist.`,
    })
  }

  publishFacts(context: StepContext, adminEmail: string, wazuhUserEmail: string): void {
    context.facts.set(MispFacts.url, this.url)
    context.facts.set(MispFacts.caFile, this.paths.caCertFile)
    context.facts.set(MispFacts.pinnedFingerprint, this.pinnedFingerprint)
    context.facts.set(MispFacts.tlsServerName, this.tlsServerName)
    context.facts.set(MispFacts.adminKeyFile, this.paths.adminKeyFile)
    context.facts.set(MispFacts.wazuhKeyFile, this.paths.wazuhKeyFile)
    context.facts.set(MispFacts.credentialsFile, this.paths.credentialsFile)
    context.facts.set(MispFacts.adminEmail, adminEmail)
    context.facts.set(MispFacts.wazuhUserEmail, wazuhUserEmail)
  }
}

/** Reads a one-line secret file on the target and registers its value with the redactor; undefined when missing. */
export async function readSecretFile(context: StepContext, path: string): Promise<string | undefined> {
  if (!(await context.target.exists(path))) return undefined
  const value = (await context.target.readText(path)).trim()
  context.redactor.register(value, 'misp-auth-key')
  return value
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/**
 * Returns `length` random letters and digits from the system CSPRNG, with at least one upper-case
 * letter, one lower-case letter and one digit (MISP's default password policy requires them).
 * Letters and digits only, because MISP auth keys must be alphanumeric and misp-docker asks for
 * alphanumeric database passwords.
 */
export function generateSecret(length: number): string {
  for (;;) {
    let value = ''
    for (let index = 0; index < length; index++) value += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]
    if (/[A-Z]/.test(value) && /[a-z]/.test(value) && /\d/.test(value)) return value
  }
}
