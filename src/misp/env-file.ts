import {InvalidInputError} from '../errors.js'

/**
 * Reading and editing misp-docker's `.env` as text, so comments, order and a person's own edits
 * survive: only the lines of the variables being set change.
 */

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/
const COMMENTED_ASSIGNMENT = /^\s*#\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/

/** Header of the block that holds variables the template has no line for. */
export const APPENDED_BLOCK_HEADER = '# Added by mispwazuh'

/** Returns the active (uncommented) variables; a later line wins, as in Docker Compose. */
export function parseEnv(text: string): Map<string, string> {
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = ASSIGNMENT.exec(line)
    if (match) values.set(match[1]!, unquote(match[2]!.trim()))
  }

  return values
}

/**
 * Sets variables in the text of an env file. An active line is changed in place; otherwise a
 * commented example line (`# KEY=`) is replaced by the assignment; otherwise the variable is
 * appended under a mispwazuh header. Later duplicate active lines are removed, because Docker
 * Compose would let them override the value set here.
 */
export function setEnvValues(text: string, values: ReadonlyMap<string, string> | Record<string, string>): string {
  const entries = values instanceof Map ? [...values.entries()] : Object.entries(values)
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const appended: string[] = []

  for (const [key, value] of entries) {
    const rendered = `${key}=${quote(value)}`
    const active = lines.flatMap((line, index) => (ASSIGNMENT.exec(line)?.[1] === key ? [index] : []))

    if (active.length > 0) {
      lines[active[0]!] = rendered
      for (const index of active.slice(1).reverse()) lines.splice(index, 1)
      continue
    }

    const commented = lines.findIndex((line) => COMMENTED_ASSIGNMENT.exec(line)?.[1] === key)
    if (commented !== -1) {
      lines[commented] = rendered
      continue
    }

    appended.push(rendered)
  }

  if (appended.length > 0) {
    const headerIndex = lines.indexOf(APPENDED_BLOCK_HEADER)
    if (headerIndex === -1) {
      if (lines.length > 0 && lines.at(-1) !== '') lines.push('')
      lines.push(APPENDED_BLOCK_HEADER, ...appended)
    } else {
      lines.splice(headerIndex + 1, 0, ...appended)
    }
  }

  return `${lines.join('\n')}\n`
}

/** Names of variables whose values are secrets, by misp-docker's naming. */
export function isSecretEnvName(name: string): boolean {
  return /PASSWORD|PASSPHRASE|SECRET|_KEY$|^SALT$|TOKEN/.test(name) && !/_KEY_FILE$|^MYSQL_TLS_KEY$/.test(name)
}

function quote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]*$/.test(value)) return value
  // Single quotes keep spaces and `$` literal in Docker Compose; a quote or line break inside cannot be written safely.
  if (/['\n\r]/.test(value)) throw new InvalidInputError(`The .env value "${value}" contains a quote or line break.`, 'Use a value without quotes and line breaks.')
  return `'${value}'`
}

function unquote(value: string): string {
  if (value.length >= 2 && ((value.startsWith("'") && value.endsWith("'")) || (value.startsWith('"') && value.endsWith('"')))) {
    return value.slice(1, -1)
  }

  return value.replace(/\s+#.*$/, '')
}
