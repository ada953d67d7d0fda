import {isIP} from 'node:net'

import {InvalidInputError} from '../errors.js'

export interface HostSpec {
  user: string
  host: string
  port: number
}

const HOST_NAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i

/**
 * Parses `user@host[:port]`, `user@[ipv6]:port` or `host` (user defaults to root, port to 22).
 * `what` names the setting in the error message, e.g. `--host`.
 */
export function parseHostSpec(value: string, what?: string): HostSpec {
  const expected = `Expected user@host[:port], for example root@192.0.2.10:22 or admin@[2001:db8::5]:2222.`
  const where = what ? ` in ${what} "${value}"` : ''
  const at = value.lastIndexOf('@')
  const user = at === -1 ? 'root' : value.slice(0, at)
  const rest = at === -1 ? value : value.slice(at + 1)
  if (!USER_NAME.test(user)) throw new InvalidInputError(`Invalid user name "${user}"${where}. ${expected}`)

  let host = rest
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest)
  if (bracketed) {
    host = bracketed[1] ?? ''
    portText = bracketed[2]
    if (isIP(host) !== 6) throw new InvalidInputError(`Invalid IPv6 address "${host}"${where}. ${expected}`)
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    ;[host = '', portText] = rest.split(':')
  } else if (isIP(rest) === 6) {
    host = rest
  }

  if (!bracketed && isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new InvalidInputError(`Invalid host "${host}"${where}. ${expected}`)
  }

  const port = portText === undefined ? 22 : parsePort(portText, what ? `the port of ${what} "${value}"` : undefined)
  return {user, host, port}
}

export function parsePort(text: string, what?: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65_535) {
    throw new InvalidInputError(`Invalid port "${text}"${what ? ` in ${what}` : ''}. Expected a number from 1 to 65535.`)
  }

  return Number(text)
}

export function formatHostSpec(spec: HostSpec): string {
  const host = isIP(spec.host) === 6 ? `[${spec.host}]` : spec.host
  return `${spec.user}@${host}:${spec.port}`
}
