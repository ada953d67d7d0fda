import {ExitCode, MispwazuhError} from '../errors.js'

/** The request a MISP error belongs to and, when MISP sent one, the HTTP status. */
export interface MispRequestInfo {
  method: string
  /** Path and query only; the base URL is in the message, the key never is. */
  path: string
  status?: number
}

/** Base class of every error the MISP client raises, so callers can catch MISP failures as one class. */
export class MispError extends MispwazuhError {
  readonly request: MispRequestInfo

  constructor(message: string, request: MispRequestInfo, options: {code: string; fix?: string; cause?: unknown}) {
    super(message, {...options, exitCode: ExitCode.mispFailed})
    this.name = 'MispError'
    this.request = request
  }
}

/** The TCP connection or the TLS handshake failed, or the server did not respond in time. */
export class MispConnectionError extends MispError {
  constructor(message: string, request: MispRequestInfo, cause?: unknown) {
    super(message, request, {
      code: 'misp_unreachable',
      fix: 'Check that MISP runs and that this machine reaches its HTTPS port (firewall, BASE_URL).',
      cause,
    })
    this.name = 'MispConnectionError'
  }
}

/** The server's certificate is not trusted by the configured CA, or does not match the pinned fingerprint. */
export class MispTlsError extends MispError {
  /** SHA-256 fingerprint of the certificate the server presented, as colon-separated hex. */
  readonly fingerprint: string | undefined

  constructor(message: string, request: MispRequestInfo, fingerprint: string | undefined, cause?: unknown) {
    super(message, request, {
      code: 'misp_tls_untrusted',
      fix: 'Pass the CA certificate that signed the MISP server certificate (--misp-ca-file), or pin this certificate after checking its fingerprint.',
      cause,
    })
    this.name = 'MispTlsError'
    this.fingerprint = fingerprint
  }
}

/** HTTP 403 with MISP's authentication message: the key is unknown, disabled, expired or not allowed from this address. */
export class MispAuthError extends MispError {
  constructor(message: string, request: MispRequestInfo) {
    super(message, request, {
      code: 'misp_auth_failed',
      fix: 'Check the auth key file: it must hold a valid 40-character auth key of an enabled MISP user.',
    })
    this.name = 'MispAuthError'
  }
}

/** HTTP 403 for a valid key whose role lacks the permission. */
export class MispForbiddenError extends MispError {
  constructor(message: string, request: MispRequestInfo) {
    super(message, request, {
      code: 'misp_forbidden',
      fix: 'Use the auth key of a MISP site admin for this operation.',
    })
    this.name = 'MispForbiddenError'
  }
}

/**
 * MISP rejected the data: `saved: false` with `errors`. MISP sends these with HTTP 403
 * (add and edit actions) or with HTTP 200 (warninglists/toggleEnable).
 */
export class MispValidationError extends MispError {
  readonly errors: unknown

  constructor(message: string, request: MispRequestInfo, errors: unknown) {
    super(`${message}${describeValidationErrors(errors)}`, request, {
      code: 'misp_validation_failed',
      fix: 'Correct the values named in the message and run again.',
    })
    this.name = 'MispValidationError'
    this.errors = errors
  }
}

/** HTTP 404, or the 405 "Invalid Feed." that feeds/enable and feeds/disable return for an unknown id. */
export class MispNotFoundError extends MispError {
  constructor(message: string, request: MispRequestInfo) {
    super(message, request, {code: 'misp_not_found', fix: 'Check the id or name; it does not exist on this MISP server.'})
    this.name = 'MispNotFoundError'
  }
}

/** HTTP 429: the role's rate limit was reached. */
export class MispRateLimitError extends MispError {
  /** Seconds until the limit resets, from `X-Rate-Limit-Reset` or `Retry-After`, when MISP sent it. */
  readonly resetSeconds: number | undefined

  constructor(message: string, request: MispRequestInfo, resetSeconds: number | undefined) {
    super(message, request, {
      code: 'misp_rate_limited',
      fix: 'Wait until the rate limit resets, or raise the rate limit of the user\'s role in MISP.',
    })
    this.name = 'MispRateLimitError'
    this.resetSeconds = resetSeconds
  }
}

/** MISP sent an HTML page: a login redirect target, the "MISP is loading" page, or a proxy's error page. */
export class MispHtmlResponseError extends MispError {
  /** The page's title or first text, cut to 200 characters. */
  readonly excerpt: string

  constructor(message: string, request: MispRequestInfo, excerpt: string) {
    super(message, request, {
      code: 'misp_html_response',
      fix: 'Check that the URL points at MISP itself (not a proxy or another service) and that MISP finished starting.',
    })
    this.name = 'MispHtmlResponseError'
    this.excerpt = excerpt
  }
}

/** The body was not valid JSON although MISP announced JSON or should have sent it. */
export class MispInvalidJsonError extends MispError {
  constructor(message: string, request: MispRequestInfo, cause?: unknown) {
    super(message, request, {code: 'misp_invalid_json', fix: 'Read the MISP error log (app/tmp/logs/error.log) for the failure behind this response.', cause})
    this.name = 'MispInvalidJsonError'
  }
}

/** HTTP 5xx after every retry, including a 503 "MISP is loading" page that never went away. */
export class MispServerError extends MispError {
  constructor(message: string, request: MispRequestInfo) {
    super(message, request, {code: 'misp_server_error', fix: 'Read the MISP error log (app/tmp/logs/error.log) and the container log, then run again.'})
    this.name = 'MispServerError'
  }
}

/** Any other status MISP should not send for this request, e.g. the 302 of a failed sync-mode cacheFeeds. */
export class MispUnexpectedStatusError extends MispError {
  readonly location: string | undefined

  constructor(message: string, request: MispRequestInfo, location: string | undefined) {
    super(message, request, {code: 'misp_unexpected_status', fix: 'Read the MISP error log (app/tmp/logs/error.log) for the failure behind this response.'})
    this.name = 'MispUnexpectedStatusError'
    this.location = location
  }
}

function describeValidationErrors(errors: unknown): string {
  if (errors === undefined || errors === null) return ''
  if (typeof errors === 'string') return `: ${errors}`
  if (typeof errors !== 'object') return ''

  const parts: string[] = []
  for (const [field, value] of Object.entries(errors as Record<string, unknown>)) {
    let text: string
    if (Array.isArray(value)) text = value.map(String).join('; ')
    else if (typeof value === 'string') text = value
    else text = JSON.stringify(value)
    parts.push(`${field}: ${text}`)
  }

  return parts.length > 0 ? ` (${parts.join(', ')})` : ''
}
