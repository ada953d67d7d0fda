/**
 * Replaces secrets in text and objects before anything is printed or logged.
 *
 * Two layers: values registered at run time (generated passwords, keys read from files) are
 * replaced wherever they appear, and values stored under secret-looking keys (`password`,
 * `authkey`, `api_key`, `authorization`, ...) are replaced in objects and in `key=value` or
 * `"key": "value"` text.
 */
export class Redactor {
  private readonly secrets = new Map<string, string>()

  /** Registers a secret value; values shorter than 6 characters are ignored to avoid masking common words. */
  register(value: string | undefined, label = 'secret'): void {
    if (!value || value.length < 6) return
    this.secrets.set(value, label)
  }

  redact(text: string): string {
    let result = text
    const ordered = [...this.secrets.entries()].sort((a, b) => b[0].length - a[0].length)
    for (const [value, label] of ordered) {
      result = result.split(value).join(`[redacted:${label}]`)
    }

    return result.replace(SECRET_ASSIGNMENT, (_match, key: string, separator: string, quote: string) => `${key}${separator}${quote}[redacted]${quote}`)
  }

  redactValue<T>(value: T): T {
    return redactDeep(value, this) as T
  }
}

const SECRET_KEY = /^(?:.*[_-])?(?:password|passwd|secret|token|authkey|auth_key|authkey_raw|api_?key|admin_key|authorization|private_?key|passphrase|key_raw)$/i

// `password=...` (no spaces, as in .env files and URLs), `"authkey": "..."` and `Authorization: ...`
// in free text. `$password = (Get-Content ...)` in printed PowerShell is code, not a secret, and
// does not match.
const SECRET_ASSIGNMENT = /\b((?:[A-Za-z_]*[_-])?(?:password|passwd|secret|token|authkey|authkey_raw|api_?key|admin_key|authorization|passphrase))(=|"?:\s*)("?)(?!\[redacted)[^\s"',}()]{4,}\3/gi

/** True for keys such as `password`, `ADMIN_KEY`, `adminPassword` or `authkey_raw`. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replaceAll(/([a-z0-9])([A-Z])/g, '$1_$2'))
}

function redactDeep(value: unknown, redactor: Redactor): unknown {
  if (typeof value === 'string') return redactor.redact(value)
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redactor))
  if (value && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    const copy: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      copy[key] = isSecretKey(key) && typeof item === 'string' && item !== '' ? '[redacted]' : redactDeep(item, redactor)
    }

    return copy
  }

  return value
}
