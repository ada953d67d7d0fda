import path from 'node:path/posix'

/**
 * misp-docker commit installed by default: the snapshot whose template.env (CORE_TAG v2.5.42)
 * and docker-compose.yml (CORE_HTTP_PORT / CORE_HTTPS_PORT, ./ssl mounted as /etc/nginx/certs)
 * this code was written and tested against.
 */
export const DEFAULT_MISP_DOCKER_COMMIT = '6d915d5921183cded7758dad19c8584edbcde642'
export const DEFAULT_MISP_DOCKER_REPOSITORY = 'https://github.com/MISP/misp-docker.git'

/** Everything the MISP steps need to know, with paths on the target. */
export interface MispOptions {
  /** `install`: Docker, misp-docker, TLS and start on the target. `existing`: use the MISP at `existingUrl`. */
  mode: 'install' | 'existing'

  /** Base URL of Docker's apt repositories (https://download.docker.com/linux). */
  dockerRepositoryUrl?: string

  /** Directory for misp-docker's checkout. */
  installDir: string
  repositoryUrl: string
  commit: string

  /** Host name or address Wazuh and the CLI use to reach MISP; goes into BASE_URL and the certificate. */
  serverName: string
  /** More names and addresses for the certificate (localhost and 127.0.0.1 are always added). */
  extraNames: string[]
  httpPort: number
  httpsPort: number

  /** Admin email; generated from the server name when absent. */
  adminEmail?: string
  /** Organisation of the admin (misp-docker's ADMIN_ORG). */
  adminOrg: string

  /** Names of the default feeds to enable; undefined = the feeds MISP's feed metadata marks enabled. */
  feeds?: string[]

  /** Email of the dedicated MISP user whose auth key Wazuh uses. */
  wazuhUserEmail?: string
  wazuhRoleName: string

  /** Directory for the credentials file, key files and the CA (root-owned). */
  configDir: string
  /** Log file of the daily refresh job. */
  refreshLogFile: string
  /** Script the daily refresh job runs. */
  refreshScript: string
  /** cron.d file of the daily refresh job. */
  cronFile: string
  /** Minute and hour of the daily refresh, in cron syntax. */
  refreshSchedule: string

  /** Seconds to wait for MISP to respond after `docker compose up`. */
  startTimeoutSeconds: number

  // ---- existing MISP ----
  existingUrl?: string
  /** Admin auth key of the existing MISP, already read from the file the user named. */
  existingAdminKey?: string
  /** PEM CA that signed the existing MISP's certificate. */
  existingCaPem?: string
  /** Pin the certificate the existing MISP presents when no CA is given; needs `confirmPin` or `assumeYes`. */
  assumeYes: boolean
  /** Asks the person to accept a certificate fingerprint; returns true to pin it. */
  confirmPin?: (question: string) => Promise<boolean>
}

/** File layout derived from the options; every path is on the target. */
export interface MispPaths {
  envFile: string
  sslDir: string
  serverCertFile: string
  serverKeyFile: string
  /** misp-docker's generated MISP configuration, which keeps the old BASE_URL until removed. */
  configsDir: string
  credentialsFile: string
  adminKeyFile: string
  wazuhKeyFile: string
  /** Private directory for the CA key. */
  caDir: string
  caKeyFile: string
  /** The CA certificate (or pinned server certificate) every MISP client trusts. */
  caCertFile: string
}

export function mispPaths(options: Pick<MispOptions, 'installDir' | 'configDir'>): MispPaths {
  const config = options.configDir
  return {
    envFile: path.join(options.installDir, '.env'),
    sslDir: path.join(options.installDir, 'ssl'),
    serverCertFile: path.join(options.installDir, 'ssl', 'cert.pem'),
    serverKeyFile: path.join(options.installDir, 'ssl', 'key.pem'),
    configsDir: path.join(options.installDir, 'configs'),
    credentialsFile: path.join(config, 'misp-credentials'),
    adminKeyFile: path.join(config, 'misp-admin.key'),
    wazuhKeyFile: path.join(config, 'misp-wazuh.key'),
    caDir: path.join(config, 'ca'),
    caKeyFile: path.join(config, 'ca', 'misp-ca.key'),
    caCertFile: path.join(config, 'misp-ca.crt'),
  }
}

export interface MispOptionsInput extends Partial<Omit<MispOptions, 'serverName'>> {
  serverName: string
}

/** Fills every option the caller left out with its default. */
export function withDefaults(input: MispOptionsInput): MispOptions {
  const options: MispOptions = {
    mode: input.existingUrl ? 'existing' : 'install',
    installDir: '/opt/misp-docker',
    repositoryUrl: DEFAULT_MISP_DOCKER_REPOSITORY,
    commit: DEFAULT_MISP_DOCKER_COMMIT,
    extraNames: [],
    httpPort: 8080,
    httpsPort: 8443,
    adminOrg: 'mispwazuh',
    wazuhRoleName: 'mispwazuh-read',
    configDir: '/etc/mispwazuh',
    refreshLogFile: '/var/log/mispwazuh/misp-refresh.log',
    refreshScript: '/usr/local/sbin/mispwazuh-misp-refresh',
    cronFile: '/etc/cron.d/mispwazuh-misp-refresh',
    refreshSchedule: '17 3',
    startTimeoutSeconds: 1800,
    assumeYes: false,
    ...stripUndefined(input),
    serverName: input.serverName,
  }

  return options
}

/** Returns the domain part of generated email addresses: the server name when it is a DNS name, else misp.local. */
export function emailDomain(serverName: string): string {
  const isDnsName = /[a-z]/i.test(serverName) && serverName.includes('.') && !serverName.includes(':')
  return isDnsName ? serverName.toLowerCase() : 'misp.local'
}

export function adminEmailOf(options: MispOptions): string {
  return options.adminEmail ?? `admin@${emailDomain(options.serverName)}`
}

export function wazuhUserEmailOf(options: MispOptions): string {
  return options.wazuhUserEmail ?? `wazuh@${emailDomain(options.serverName)}`
}

/** BASE_URL of the installed MISP: the HTTPS port is part of it unless it is 443. */
export function installedMispUrl(options: Pick<MispOptions, 'serverName' | 'httpsPort'>): string {
  const host = options.serverName.includes(':') ? `[${options.serverName}]` : options.serverName
  return options.httpsPort === 443 ? `https://${host}` : `https://${host}:${options.httpsPort}`
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>
}
