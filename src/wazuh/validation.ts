import type {Target} from '../target/target.js'
import {wazuhPaths} from './manager.js'

/**
 * Wazuh's own configuration checks. `wazuh-analysisd -t` loads ossec.conf, decoders, lists and
 * rules; `wazuh-integratord -t` checks the `<integration>` blocks, which analysisd ignores.
 * Both exit 0 on many real problems and only print warnings, for example for a duplicate rule
 * ID or a second `<ruleset>` section that drops the stock lists. So a change is judged by the
 * WARNING and ERROR lines it adds, not only by the exit status.
 */
export interface WazuhValidator {
  name: string
  argv: string[]
}

export interface ValidationRun {
  validator: WazuhValidator
  /** False when the program does not exist on the target. */
  available: boolean
  exitCode: number | null
  /** WARNING, ERROR and CRITICAL lines, without timestamps. */
  problems: string[]
  output: string
}

export function wazuhValidators(wazuhDir: string): WazuhValidator[] {
  const paths = wazuhPaths(wazuhDir)
  return [
    {name: 'wazuh-analysisd', argv: [paths.analysisd, '-t']},
    {name: 'wazuh-integratord', argv: [paths.integratord, '-t']},
  ]
}

const TIMESTAMP = /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}\s+/
const PROBLEM = /\b(?:WARNING|ERROR|CRITICAL)\b/

/** Returns the WARNING/ERROR/CRITICAL lines of a validator's output, without their timestamps. */
export function problemLines(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.replace(/\r$/, '').replace(TIMESTAMP, '').trim())
    .filter((line) => PROBLEM.test(line))
}

export async function runValidator(target: Target, validator: WazuhValidator): Promise<ValidationRun> {
  const program = validator.argv[0] as string
  const stat = await target.stat(program)
  if (stat?.type !== 'file') return {validator, available: false, exitCode: null, problems: [], output: ''}

  const result = await target.exec(validator.argv, {allowExitCodes: 'any', timeoutMs: 180_000})
  const output = `${result.stdout}${result.stderr}`
  return {validator, available: true, exitCode: result.exitCode, problems: problemLines(output), output}
}

export async function runValidators(target: Target, validators: readonly WazuhValidator[]): Promise<ValidationRun[]> {
  const runs: ValidationRun[] = []
  for (const validator of validators) runs.push(await runValidator(target, validator))
  return runs
}

/** Returns the problem lines of `after` that `before` did not have, counting repeated lines. */
export function newProblems(before: ValidationRun | undefined, after: ValidationRun): string[] {
  const remaining = new Map<string, number>()
  for (const line of before?.problems ?? []) remaining.set(line, (remaining.get(line) ?? 0) + 1)
  const added: string[] = []
  for (const line of after.problems) {
    const count = remaining.get(line) ?? 0
    if (count > 0) remaining.set(line, count - 1)
    else added.push(line)
  }

  return added
}

/** A validator result that makes a change fail: a new problem line, or a non-zero exit where it exited 0 before. */
export interface ValidationFailure {
  validator: string
  exitCode: number | null
  problems: string[]
}

export function compareValidation(before: readonly ValidationRun[], after: readonly ValidationRun[]): ValidationFailure[] {
  const failures: ValidationFailure[] = []
  for (const run of after) {
    if (!run.available) continue
    const previous = before.find((candidate) => candidate.validator.name === run.validator.name)
    const added = newProblems(previous, run)
    const newlyFailing = run.exitCode !== 0 && (previous === undefined || previous.exitCode === 0)
    if (added.length > 0 || newlyFailing) {
      const lastLines = run.output.trim().split('\n').slice(-3).map((line) => line.replace(TIMESTAMP, ''))
      failures.push({validator: run.validator.name, exitCode: run.exitCode, problems: added.length > 0 ? added : lastLines})
    }
  }

  return failures
}

/** Returns `file line N: message` for a Wazuh message that names a file and line, else the message itself. */
export function locateProblem(line: string): string {
  const file = /'([^']+\.(?:xml|conf))'/.exec(line)?.[1]
  const lineNumber = /\(line (\d+)\)|line (\d+)/.exec(line)
  const number = lineNumber?.[1] ?? lineNumber?.[2]
  if (file && number) return `${file} line ${number}: ${line}`
  if (file) return `${file}: ${line}`
  return line
}
