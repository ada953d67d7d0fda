import {X509Certificate} from 'node:crypto'

import {MispwazuhError, ExitCode} from '../errors.js'
import type {Step, StepCheck, StepContext} from '../plan/step.js'
import {applyFile, planFile, type FilePlan} from '../steps/file-change.js'
import {fetchServerCertificate, MispClient, MispTlsError, type ServerCertificate} from './client.js'
import type {MispRunState} from './run-state.js'

/**
 * Trust for an existing MISP (`--misp-url`): the CA file the user gave, or, without one, the
 * server's own self-signed certificate, pinned after a person accepted its SHA-256 fingerprint
 * (or `--yes`). The trusted PEM goes to the same path the installed MISP's CA would, so every
 * later step, the refresh job and the Wazuh integration read it from one place.
 */
export function mispExistingTrustStep(state: MispRunState): Step {
  const {options, paths} = state
  let plan: FilePlan | undefined
  let presented: ServerCertificate | undefined

  return {
    id: 'misp.trust',
    title: `Trust the TLS certificate of ${state.url}`,

    async check(context: StepContext): Promise<StepCheck> {
      presented = await fetchServerCertificate(state.url).catch((error: Error) => {
        throw new MispwazuhError(`Could not open a TLS connection to ${state.url}: ${error.message}`, {
          code: 'misp_unreachable',
          exitCode: ExitCode.mispFailed,
          fix: 'Check the --misp-url value and that this machine reaches that host and port.',
        })
      })

      const pem = options.existingCaPem ?? (await pinnedCandidate(context, state, presented))
      if (!options.existingCaPem) {
        state.pinnedFingerprint = presented.fingerprint256
        state.tlsServerName = nameForVerification(new URL(state.url).hostname.replace(/^\[|\]$/g, ''), presented)
      }

      // Prove the trust before writing it: a CA that does not verify the server is a clear error now, not a broken integration later.
      await verifyWith(state, pem)
      state.caPem = pem

      plan = await planFile(context.target, {path: paths.caCertFile, content: pem, mode: 0o644, owner: 'root', group: 'root'}, context.redactor)
      if (!plan.change) return {status: 'ok', reason: `${paths.caCertFile} verifies ${state.url}${state.pinnedFingerprint ? ` (pinned ${state.pinnedFingerprint})` : ''}`, changes: []}

      const how = options.existingCaPem ? 'the given CA certificate' : `the server certificate with SHA-256 fingerprint ${presented.fingerprint256} (pinned)`
      return {status: 'change', reason: `${paths.caCertFile} does not hold ${how} yet`, changes: [plan.change], warnings: options.existingCaPem ? [] : [`MISP at ${state.url} presents ${describe(presented)}.`]}
    },

    async apply(context: StepContext): Promise<void> {
      if (!plan?.change || !presented) return
      if (!options.existingCaPem) await confirmPin(state, presented)
      await context.target.mkdir(options.configDir, {mode: 0o755, owner: 'root', group: 'root'})
      await applyFile(context.target, plan)
    },
  }
}

/** Returns the PEM to pin: the certificate already pinned on the target when it still matches, else the presented one. */
async function pinnedCandidate(context: StepContext, state: MispRunState, presented: ServerCertificate): Promise<string> {
  if (await context.target.exists(state.paths.caCertFile)) {
    const current = await context.target.readText(state.paths.caCertFile)
    try {
      if (new X509Certificate(current).fingerprint256 === presented.fingerprint256) return current
    } catch {
      // Not one PEM certificate: replaced below.
    }
  }

  if (!presented.selfSigned) {
    throw new MispTlsError(
      `MISP at ${state.url} presents a certificate issued by "${presented.issuer}" (SHA-256 fingerprint ${presented.fingerprint256}); only a self-signed certificate can be pinned.`,
      {method: 'GET', path: '/'},
      presented.fingerprint256,
    )
  }

  return presented.pem
}

async function confirmPin(state: MispRunState, presented: ServerCertificate): Promise<void> {
  const question = `MISP at ${state.url} presents ${describe(presented)}. Pin this certificate?`
  if (state.options.assumeYes) return
  if (state.options.confirmPin && (await state.options.confirmPin(question))) return

  throw new MispTlsError(
    `The TLS certificate of MISP at ${state.url} (SHA-256 fingerprint ${presented.fingerprint256}) was not accepted. Pass --misp-ca-file with the CA that signed it, or check the fingerprint on the server and run again with --yes to pin it.`,
    {method: 'GET', path: '/'},
    presented.fingerprint256,
  )
}

async function verifyWith(state: MispRunState, pem: string): Promise<void> {
  const client = new MispClient({url: state.url, key: state.options.existingAdminKey!, ca: pem, pinnedFingerprint: state.pinnedFingerprint, retries: 1})
  await client.getVersion()
}

/**
 * Returns undefined when the certificate names `host`, else the first DNS name (or IP address) it
 * carries. misp-docker's own certificate names only localhost, 127.0.0.1 and ::1, so a client that
 * reaches it by another address must verify against one of those names instead.
 */
export function nameForVerification(host: string, certificate: Pick<ServerCertificate, 'subjectAltName'>): string | undefined {
  const entries = certificate.subjectAltName.split(',').map((entry) => entry.trim()).filter(Boolean)
  const dns = entries.filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4).toLowerCase())
  const ips = entries.filter((entry) => entry.startsWith('IP Address:')).map((entry) => entry.slice(11).toLowerCase())
  const wanted = host.toLowerCase()
  // A wildcard covers exactly one label: *.example.org matches misp.example.org, not a.b.example.org.
  const matches = (name: string) => name === wanted || (name.startsWith('*.') && wanted.endsWith(name.slice(1)) && wanted.split('.').length === name.split('.').length)
  const covered = dns.some(matches) || ips.includes(wanted)
  if (covered) return undefined
  return dns.find((name) => !name.startsWith('*.')) ?? ips[0]
}

function describe(certificate: ServerCertificate): string {
  return `a certificate for ${certificate.subjectAltName || certificate.subject} with SHA-256 fingerprint ${certificate.fingerprint256}, valid until ${certificate.validTo}`
}
