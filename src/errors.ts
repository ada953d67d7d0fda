/**
 * Exit codes. Each class of failure has its own so scripts can tell them apart.
 * 2 is shared on purpose: invalid input, and `--dry-run` with changes pending (as Terraform's
 * `-detailed-exitcode` does); the two never happen in the same run.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  invalidInput: 2,
  changesPending: 2,
  connectionFailed: 10,
  authenticationFailed: 11,
  hostKeyUnknown: 12,
  hostKeyChanged: 13,
  sudoPasswordRequired: 14,
  requirementsNotMet: 20,
  commandFailed: 21,
  validationFailed: 22,
  mispFailed: 30,
  verifyFailed: 1,
  /** Stopped by Ctrl+C (128 + SIGINT), as shells report it. */
  interrupted: 130,
} as const

/**
 * An error the user can act on: what failed, on which value, and what to do next.
 * `code` is a stable identifier for `--json` output and tests.
 */
export class MispwazuhError extends Error {
  readonly code: string
  readonly exitCode: number
  readonly fix: string | undefined

  constructor(message: string, options: {code: string; exitCode?: number; fix?: string; cause?: unknown}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'MispwazuhError'
    this.code = options.code
    this.exitCode = options.exitCode ?? ExitCode.failed
    this.fix = options.fix
  }
}

/** An invalid flag, environment variable or config value. Raised before anything touches a host. */
export class InvalidInputError extends MispwazuhError {
  constructor(message: string, fix?: string) {
    super(message, {code: 'invalid_input', exitCode: ExitCode.invalidInput, fix})
    this.name = 'InvalidInputError'
  }
}

/** A command run on the target exited with a status the caller did not allow. */
export class CommandFailedError extends MispwazuhError {
  readonly argv: string[]
  readonly exitStatus: number | null
  readonly stdout: string
  readonly stderr: string

  constructor(target: string, argv: string[], exitStatus: number | null, stdout: string, stderr: string) {
    const detail = lastLines(stderr || stdout, 5)
    super(
      `Command \`${argv[0]}\` failed on ${target} with exit status ${exitStatus ?? 'unknown'}${detail ? `:\n${detail}` : ''}`,
      {code: 'command_failed', exitCode: ExitCode.commandFailed, fix: 'Read the run log for the full output.'},
    )
    this.name = 'CommandFailedError'
    this.argv = argv
    this.exitStatus = exitStatus
    this.stdout = stdout
    this.stderr = stderr
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n')
}
