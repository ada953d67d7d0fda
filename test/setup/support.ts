import type {TestServer} from '../support/test-server.js'

/** Directories whose files setup manages; a converged re-run must not write any file in them. */
export const MANAGED_DIRECTORIES = ['/var/ossec/etc', '/var/ossec/integrations', '/etc/mispwazuh', '/opt/misp-docker', '/etc/cron.d', '/usr/local/sbin', '/var/lib/mispwazuh']

/** path -> "mtime size mode owner:group" of every file under the managed directories. */
export async function managedFileStats(server: TestServer): Promise<Map<string, string>> {
  const result = await server.exec(['find', ...MANAGED_DIRECTORIES, '-xdev', '-type', 'f', '-printf', '%p\t%T@ %s %m %u:%g\n'])
  const stats = new Map<string, string>()
  for (const line of result.stdout.split('\n').filter(Boolean)) {
    const [file = '', stat = ''] = line.split('\t')
    stats.set(file, stat)
  }

  return stats
}

/** Returns every secret setup generated or read on the server: MISP keys and passwords, Wazuh passwords. */
export async function secretsOn(server: TestServer): Promise<string[]> {
  const secrets = new Set<string>()
  const read = async (file: string) => (await server.exec(['cat', file])).stdout
  secrets.add((await read('/etc/mispwazuh/misp-admin.key')).trim())
  secrets.add((await read('/etc/mispwazuh/misp-wazuh.key')).trim())
  for (const line of (await read('/opt/misp-docker/.env')).split('\n')) {
    const match = /^(ADMIN_PASSWORD|ADMIN_KEY|MYSQL_PASSWORD|MYSQL_ROOT_PASSWORD|REDIS_PASSWORD|ENCRYPTION_KEY)=(.+)$/.exec(line)
    if (match?.[2]) secrets.add(match[2].replace(/^["']|["']$/g, ''))
  }

  for (const line of (await read('/etc/mispwazuh/wazuh-credentials')).split('\n')) {
    const match = /^\w+=(.+)$/.exec(line)
    if (match?.[1]) secrets.add(match[1])
  }

  return [...secrets].filter((secret) => secret.length >= 8)
}

/** Files readable by others (mode o+r) under the server's main directories that contain any of the secrets. */
export async function worldReadableFilesContaining(server: TestServer, secrets: readonly string[]): Promise<string[]> {
  const found: string[] = []
  for (const secret of secrets) {
    const result = await server.exec(['grep', '-rlsF', '--', secret, '/etc', '/opt', '/var/ossec', '/usr/local', '/var/log', '/var/lib/mispwazuh', '/tmp', '/srv'])
    for (const file of result.stdout.split('\n').filter(Boolean)) {
      const mode = (await server.exec(['stat', '-c', '%a', file])).stdout.trim()
      const parentsOpen = (await server.exec(['sh', '-c', 'd=$(dirname "$1"); while [ "$d" != / ]; do [ $(( 0$(stat -c %a "$d") & 1 )) -eq 1 ] || exit 1; d=$(dirname "$d"); done', 'check', file])).exitCode === 0
      if ((Number.parseInt(mode, 8) & 0o004) !== 0 && parentsOpen) found.push(file)
    }
  }

  return found
}
