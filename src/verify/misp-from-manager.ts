import type {VerifyFacts} from './facts.js'
import {fail, pass, skip, type HopOutcome, type VerifyContext} from './types.js'

/**
 * Runs on the manager as user wazuh, as integratord runs the script: reads the integration's
 * config, opens a TLS connection to its misp_url verified with its ca_file, and sends one
 * request without a key. Any HTTP status line proves the connection and the certificate; the key
 * is checked by misp.wazuh-key. Prints one JSON object and never the key.
 */
const PROBE = String.raw`
import json, socket, ssl, sys
from urllib.parse import urlsplit

def answer(**fields):
    print(json.dumps(fields))
    sys.exit(0)

try:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
except OSError as error:
    answer(ok=False, kind="config", error="%s: %s" % (type(error).__name__, error))
except ValueError as error:
    answer(ok=False, kind="config", error="not valid JSON: %s" % error)

url = urlsplit(str(config.get("misp_url", "")))
if url.scheme != "https" or not url.hostname:
    answer(ok=False, kind="config", error="misp_url is not an https:// URL")
ca_file = config.get("ca_file") or None
verify = config.get("verify_tls", True) is not False
try:
    if verify:
        context = ssl.create_default_context(cafile=ca_file)
    else:
        context = ssl._create_unverified_context()
except OSError as error:
    answer(ok=False, kind="ca_file", error="%s: %s" % (type(error).__name__, error), ca_file=ca_file)
except ssl.SSLError as error:
    answer(ok=False, kind="ca_file", error="not a PEM certificate: %s" % error, ca_file=ca_file)

try:
    with socket.create_connection((url.hostname, url.port or 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
            request = "GET %s/servers/getVersion HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nUser-Agent: mispwazuh-verify\r\nConnection: close\r\n\r\n" % (url.path.rstrip("/"), url.netloc)
            tls.sendall(request.encode("ascii"))
            status = tls.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            if not status.startswith("HTTP/"):
                answer(ok=False, kind="connect", error="the server closed the connection without an HTTP answer")
            answer(ok=True, status=status, tls=tls.version(), verified=verify, ca_file=ca_file, url="%s://%s%s" % (url.scheme, url.netloc, url.path))
except ssl.SSLCertVerificationError as error:
    answer(ok=False, kind="tls", error=error.verify_message or str(error), ca_file=ca_file)
except ssl.SSLError as error:
    answer(ok=False, kind="tls", error=str(error), ca_file=ca_file)
except OSError as error:
    answer(ok=False, kind="connect", error="%s: %s" % (type(error).__name__, error))
`

interface ProbeAnswer {
  ok: boolean
  kind?: 'config' | 'ca_file' | 'tls' | 'connect'
  error?: string
  status?: string
  tls?: string
  verified?: boolean
  ca_file?: string | null
  url?: string
}

/** Checks that the manager reaches MISP as the integration does: as user wazuh, with the integration's own config. */
export async function checkMispFromManager(context: VerifyContext, facts: VerifyFacts): Promise<HopOutcome> {
  const config = await facts.integrationConfig()
  if (!config.value) return skip(`Skipped: ${config.problem} (see wazuh.integration-config).`)

  const python = await facts.python()
  const result = await context.target.exec(['runuser', '-u', 'wazuh', '--', python, '-c', PROBE, config.value.path], {allowExitCodes: 'any', timeoutMs: 30_000})
  let probe: ProbeAnswer
  try {
    probe = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as ProbeAnswer
  } catch {
    return fail(`Could not run ${python} as user wazuh on ${context.target.name} (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().slice(0, 300)}`, `Check that the wazuh user exists and that ${python} runs.`)
  }

  const where = String(config.value.values.misp_url ?? '(no misp_url)')
  if (probe.ok) {
    const notes = probe.verified ? [] : [`verify_tls is false in ${config.value.path}: the integration sends its key without checking who answers.`]
    const trust = probe.verified ? `TLS ${probe.tls} verified against ${probe.ca_file ?? 'the system CA store'}` : `TLS ${probe.tls} NOT verified`
    const found = `The manager reaches ${where} as user wazuh; ${trust}; MISP answered "${probe.status}".`
    if (!probe.verified) return fail(found, `Set verify_tls to true and ca_file to MISP's CA certificate in ${config.value.path}, or run \`mispwazuh setup\` again.`, notes)
    return pass(found, notes)
  }

  switch (probe.kind) {
    case 'config':
      return fail(`User wazuh cannot use ${config.value.path}: ${probe.error}.`, `Make ${config.value.path} root:wazuh 0640 and valid JSON: run \`mispwazuh setup\` again.`)
    case 'ca_file':
      return fail(`User wazuh cannot load the integration's ca_file ${probe.ca_file}: ${probe.error}.`, `Make ${probe.ca_file} a PEM CA certificate readable by the wazuh group (root:wazuh 0640 or 0644): run \`mispwazuh setup\` again.`)
    case 'tls':
      return fail(`The manager does not trust MISP's certificate at ${where}: ${probe.error} (ca_file ${probe.ca_file}).`, `Put the CA certificate that signed MISP's server certificate into ${probe.ca_file}, or run \`mispwazuh setup\` again to issue a new one.`)
    default:
      return fail(`The manager cannot connect to ${where}: ${probe.error}.`, `Start MISP, and check that the manager reaches ${where} (firewall, routing, the address in misp_url).`)
  }
}
