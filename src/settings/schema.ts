import {isAbsolute} from 'node:path'

import {z} from 'zod'

import {parseHostSpec, parsePort} from './host.js'

/**
 * Every value the CLI accepts, in one place. Each setting has a flag (`--misp-url`), an
 * environment variable (`MISPWAZUH_MISP_URL`) and a config-file key (`misp-url` or `mispUrl`).
 * Values resolve flag > environment > config file > prompt > default.
 */
export interface SettingDefinition<T = unknown> {
  /** The flag name without dashes; also the config-file key. */
  flag: string
  description: string
  kind: 'string' | 'boolean' | 'integer' | 'list'
  /** Validates and converts the raw string (or boolean) into the setting's value. */
  schema: z.ZodType<T>
  default?: T
  /** The value is a path to a secret or is itself sensitive: never echoed. */
  secret?: boolean
  /** Shown as the example in the "missing value" error and the prompt. */
  example?: string
  /** Question for the interactive prompt; settings without one are never prompted for. */
  prompt?: string
}

const hostSpec = z.string().transform((value, context) => {
  try {
    return parseHostSpec(value)
  } catch (error) {
    context.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})

const port = z.union([z.string(), z.number()]).transform((value, context) => {
  try {
    return parsePort(String(value))
  } catch (error) {
    context.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})

const absolutePath = z.string().refine((value) => isAbsolute(value) || !value.includes('\0'), {message: 'Expected a file path.'})
const filePath = z.string().min(1, 'Expected a file path.').refine((value) => !value.includes('\0'), {message: 'Expected a file path.'})
const remotePath = z.string().refine((value) => isAbsolute(value) && !value.includes('\0'), {message: 'Expected an absolute path on the target, such as /opt/misp-docker.'})

const httpsUrl = z.string().transform((value, context) => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    context.addIssue({code: 'custom', message: 'Expected an https:// URL, such as https://misp.example.org:8443.'})
    return z.NEVER
  }

  if (url.protocol !== 'https:') context.addIssue({code: 'custom', message: 'Expected an https:// URL: mispwazuh talks to MISP over TLS only.'})
  if (url.username || url.password) context.addIssue({code: 'custom', message: 'The URL must not contain a user name or password.'})
  return value.replace(/\/+$/, '')
})

const anyUrl = z.string().refine((value) => {
  try {
    return ['https:', 'http:'].includes(new URL(value).protocol)
  } catch {
    return false
  }
}, {message: 'Expected an http:// or https:// URL.'})

const wazuhVersion = z.string().regex(/^4\.\d{1,2}(\.\d{1,2})?$/, 'Expected a Wazuh 4.x version, such as 4.12 or 4.12.0.')
const booleanValue = z.union([z.boolean(), z.string()]).transform((value, context) => {
  if (typeof value === 'boolean') return value
  const normalized = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true
  if (['0', 'false', 'no', 'off', ''].includes(normalized)) return false
  context.addIssue({code: 'custom', message: 'Expected true or false.'})
  return z.NEVER
})

const ruleIdBase = z.union([z.string(), z.number()]).transform((value, context) => {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 100_000 || number > 119_900) {
    context.addIssue({code: 'custom', message: 'Expected a whole number from 100000 to 119900 (custom Wazuh rules live in 100000-120000).'})
    return z.NEVER
  }

  return number
})

const seconds = z.union([z.string(), z.number()]).transform((value, context) => {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1 || number > 86_400) {
    context.addIssue({code: 'custom', message: 'Expected a whole number of seconds from 1 to 86400.'})
    return z.NEVER
  }

  return number
})

const nameList = z.union([z.string(), z.array(z.string())]).transform((value) => (Array.isArray(value) ? value : value.split(',')).map((item) => item.trim()).filter(Boolean))

const groupName = z.string().regex(/^[\w.-]{1,255}$/, 'Expected a Wazuh agent group name: letters, digits, "_", "-" and ".".').refine((value) => value !== '.' && value !== '..', {message: 'Expected a Wazuh agent group name.'})

// Wazuh's enrollment accepts agent names of 2 to 128 characters from A-Z a-z 0-9 . - _ (OS_IsValidName).
const agentName = z.string().regex(/^[A-Za-z0-9._-]{2,128}$/, 'Expected a Wazuh agent name: 2 to 128 letters, digits, ".", "-" or "_" (the manager rejects other characters at enrollment).')

// The Sysmon configuration decides what a Windows host logs, so it is fetched over TLS only.
const sysmonConfigUrl = z.string().refine((value) => {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' && !url.username && !url.password
  } catch {
    return false
  }
}, {message: 'Expected an https:// URL without a user name or password, such as a raw file URL pinned to a commit.'})

export const settings = {
  host: {flag: 'host', kind: 'string', schema: hostSpec, description: 'Host to work on over SSH, as user@host[:port]. Without it, the local machine.', example: 'root@192.0.2.10'},
  identity: {flag: 'identity', kind: 'string', schema: filePath, description: 'SSH private key file. Default: the SSH agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.', example: '~/.ssh/id_ed25519'},
  knownHosts: {flag: 'known-hosts', kind: 'string', schema: filePath, description: 'known_hosts file to check the host key against. Default: ~/.ssh/known_hosts.'},
  acceptNewHostKey: {flag: 'accept-new-host-key', kind: 'boolean', schema: booleanValue, default: false, description: 'Record the host key of a host not yet in known_hosts (a changed key is still rejected).'},
  connectTimeout: {flag: 'connect-timeout', kind: 'integer', schema: seconds, default: 15, description: 'SSH connect timeout, in seconds.'},
  ignoreRequirements: {flag: 'ignore-requirements', kind: 'boolean', schema: booleanValue, default: false, description: 'Go on when the host is below the minimum that the Wazuh and MISP installers accept.'},

  mispUrl: {flag: 'misp-url', kind: 'string', schema: httpsUrl, description: 'URL of an existing MISP to use instead of installing one.', example: 'https://misp.example.org', prompt: 'URL of your MISP server'},
  mispAdminKeyFile: {flag: 'misp-admin-key-file', kind: 'string', schema: filePath, secret: true, description: 'File holding an admin auth key of the existing MISP (--misp-url).', example: '/root/misp-admin.key', prompt: 'Path of a file holding a MISP admin auth key'},
  mispCaFile: {flag: 'misp-ca-file', kind: 'string', schema: filePath, description: 'CA certificate (PEM) that signed the existing MISP\'s TLS certificate.'},
  mispHost: {flag: 'misp-host', kind: 'string', schema: hostSpec, description: 'Install MISP on this second host (user@host[:port]) instead of the Wazuh host.'},
  mispHttpPort: {flag: 'misp-http-port', kind: 'integer', schema: port, default: 8080, description: 'HTTP port of the installed MISP (redirects to HTTPS).'},
  mispHttpsPort: {flag: 'misp-https-port', kind: 'integer', schema: port, default: 8443, description: 'HTTPS port of the installed MISP; 8443 keeps 443 free for the Wazuh dashboard.'},
  mispServerName: {flag: 'misp-server-name', kind: 'string', schema: z.string().regex(/^[a-zA-Z0-9.-]{1,253}$/, 'Expected a host name or IP address.'), description: 'Name or address Wazuh uses to reach MISP; it goes into MISP\'s BASE_URL and TLS certificate. Default: the host\'s address.'},
  mispDockerDir: {flag: 'misp-docker-dir', kind: 'string', schema: remotePath, default: '/opt/misp-docker', description: 'Directory on the target for the misp-docker checkout.'},
  mispDockerRepo: {flag: 'misp-docker-repo', kind: 'string', schema: z.string().min(1), default: 'https://github.com/MISP/misp-docker.git', description: 'Git repository of misp-docker.'},
  mispDockerCommit: {flag: 'misp-docker-commit', kind: 'string', schema: z.string().regex(/^[0-9a-f]{7,40}$|^[\w.-]+$/, 'Expected a commit hash or tag.'), description: 'misp-docker commit or tag to check out.'},
  mispFeeds: {flag: 'misp-feeds', kind: 'list', schema: nameList, description: 'Comma-separated names of the MISP default feeds to enable. Default: those the feed metadata marks enabled.'},
  skipMisp: {flag: 'skip-misp', kind: 'boolean', schema: booleanValue, default: false, description: 'Do not install or configure MISP.'},
  mispTlsVerify: {flag: 'misp-tls-verify', kind: 'boolean', schema: booleanValue, default: true, description: 'Verify MISP\'s TLS certificate. Turning this off is insecure and logged as a warning on every run.'},

  wazuhVersion: {flag: 'wazuh-version', kind: 'string', schema: wazuhVersion, default: '4.12', description: 'Wazuh version to install.'},
  wazuhDashboardPort: {flag: 'wazuh-dashboard-port', kind: 'integer', schema: port, default: 443, description: 'Port of the Wazuh dashboard.'},
  skipWazuhInstall: {flag: 'skip-wazuh-install', kind: 'boolean', schema: booleanValue, default: false, description: 'Do not install Wazuh; configure the manager already on the host.'},
  ruleIdBase: {flag: 'rule-id-base', kind: 'integer', schema: ruleIdBase, default: 100_600, description: 'First ID of the custom rules mispwazuh writes (it uses about 40 IDs from here).'},
  renumberRuleIds: {flag: 'renumber-rule-ids', kind: 'boolean', schema: booleanValue, default: false, description: 'When a rule ID from --rule-id-base is taken by a rule mispwazuh did not write, use the next free range instead of stopping.'},
  wazuhDir: {flag: 'wazuh-dir', kind: 'string', schema: remotePath, default: '/var/ossec', description: 'Installation directory of the Wazuh manager on the target.'},

  managerAddress: {flag: 'manager-address', kind: 'string', schema: z.string().regex(/^[a-zA-Z0-9.:-]{1,253}$/, 'Expected a host name or IP address.'), description: 'Address Windows agents use to reach the Wazuh manager.', example: '192.0.2.20', prompt: 'Address agents use to reach the Wazuh manager'},
  agentVersion: {flag: 'agent-version', kind: 'string', schema: z.string().regex(/^4\.\d{1,2}\.\d{1,2}$/, 'Expected a full Wazuh version, such as 4.12.0.'), description: 'Wazuh agent version to install (the manager\'s when --host is given).', example: '4.12.0'},
  group: {flag: 'group', kind: 'string', schema: groupName, description: 'Wazuh agent group.'},
  agentName: {flag: 'agent-name', kind: 'string', schema: agentName, description: 'Agent name the Windows agent enrolls with. Default: the Windows computer name.', example: 'WIN-01'},
  registrationPasswordFile: {flag: 'registration-password-file', kind: 'string', schema: filePath, secret: true, description: 'File holding the agent registration password, when the manager requires one and --host is not given.', example: './authd.pass'},
  sysmonConfigUrl: {flag: 'sysmon-config-url', kind: 'string', schema: sysmonConfigUrl, description: 'Sysmon configuration the Windows host downloads instead of the one shipped with mispwazuh.', example: 'https://raw.githubusercontent.com/OWNER/REPO/COMMIT/sysmonconfig.xml'},
  format: {flag: 'format', kind: 'string', schema: z.enum(['text', 'ps1', 'xml', 'json']), default: 'text', description: 'Output: text (snippets with headings), ps1 (one install script), xml (the agent <localfile> block) or json.'},
  outDir: {flag: 'out', kind: 'string', schema: filePath, description: 'Directory to write one file per snippet into (install script, Sysmon configuration, <localfile> block).', example: './windows-agent'},
  push: {flag: 'push', kind: 'boolean', schema: booleanValue, default: false, description: 'Write the Sysmon <localfile> into the shared agent.conf of --group on the manager (--host), creating the group if needed.'},

  dryRun: {flag: 'dry-run', kind: 'boolean', schema: booleanValue, default: false, description: 'Check every step and print the plan with diffs; change nothing. Exit 0 when nothing would change, 2 when changes are pending.'},
  canary: {flag: 'canary', kind: 'boolean', schema: booleanValue, default: true, description: 'Plant a canary IoC in MISP and follow it through the manager and the integration into alerts.json (--no-canary checks the hops only).'},
  canaryTimeout: {flag: 'canary-timeout', kind: 'integer', schema: seconds, default: 90, description: 'Seconds to wait for each stage of the canary: MISP returning it, then each canary alert.'},
} satisfies Record<string, SettingDefinition>

export type SettingKey = keyof typeof settings
export type SettingValue<K extends SettingKey> = z.output<(typeof settings)[K]['schema']>
export type Settings<K extends SettingKey> = {[P in K]: SettingValue<P> | undefined}

export function envName(key: SettingKey): string {
  return `MISPWAZUH_${settings[key].flag.toUpperCase().replaceAll('-', '_')}`
}

export {absolutePath, anyUrl}
