import {createTwoFilesPatch} from 'diff'

import type {Change} from '../plan/step.js'
import type {Redactor} from '../ui/redact.js'
import type {Target, WriteResult} from '../target/target.js'

export interface DesiredFile {
  path: string
  content: string | Buffer
  mode: number
  owner: string
  group: string
  /** The content contains a secret, so the plan shows no diff lines for it, only that it changes. */
  secret?: boolean
}

export interface FilePlan {
  desired: DesiredFile
  /** Current content, undefined when the file does not exist. */
  current: Buffer | undefined
  contentChanged: boolean
  metadataChanged: boolean
  change: Change | undefined
}

/**
 * Compares a desired file with what is on the target: content byte for byte, then mode and
 * owner. Returns a Change with a unified diff when anything differs, nothing otherwise.
 */
export async function planFile(target: Target, desired: DesiredFile, redactor?: Redactor): Promise<FilePlan> {
  const stat = await target.stat(desired.path)
  const current = stat?.type === 'file' ? await target.readFile(desired.path) : undefined
  const wanted = typeof desired.content === 'string' ? Buffer.from(desired.content, 'utf8') : desired.content
  const contentChanged = current === undefined || !current.equals(wanted)
  const metadataChanged = stat !== undefined && ((stat.mode & 0o7777) !== desired.mode || stat.owner !== desired.owner || stat.group !== desired.group)

  if (!contentChanged && !metadataChanged) return {desired, current, contentChanged, metadataChanged, change: undefined}

  const parts: string[] = []
  if (current === undefined) parts.push(`create ${desired.path}`)
  else if (contentChanged) parts.push(`update ${desired.path}`)
  if (metadataChanged && stat) {
    parts.push(`${contentChanged ? 'and set' : 'set'} ${desired.owner}:${desired.group} ${octal(desired.mode)} (now ${stat.owner}:${stat.group} ${octal(stat.mode & 0o7777)})`)
  } else if (current === undefined) {
    parts.push(`(${desired.owner}:${desired.group} ${octal(desired.mode)})`)
  }

  const diff = contentChanged ? unifiedDiff(desired.path, current, wanted, desired.secret === true, redactor) : undefined
  return {desired, current, contentChanged, metadataChanged, change: {kind: 'file', summary: parts.join(' '), path: desired.path, diff}}
}

/** Writes a planned file: a backup of the old one when its content changes, then an atomic write. */
export async function applyFile(target: Target, plan: FilePlan): Promise<WriteResult | undefined> {
  const {desired} = plan
  if (plan.contentChanged) {
    return target.writeFile(desired.path, desired.content, {mode: desired.mode, owner: desired.owner, group: desired.group, backup: plan.current !== undefined})
  }

  if (plan.metadataChanged) {
    await target.chown(desired.path, desired.owner, desired.group)
    await target.chmod(desired.path, desired.mode)
  }

  return undefined
}

export function unifiedDiff(path: string, before: Buffer | string | undefined, after: Buffer | string, secret = false, redactor?: Redactor): string {
  if (secret) return `--- ${path}\n+++ ${path}\n(content holds secrets; diff not shown)\n`
  const oldText = before === undefined ? '' : before.toString()
  const newText = after.toString()
  const patch = createTwoFilesPatch(before === undefined ? '/dev/null' : path, path, oldText, newText, undefined, undefined, {context: 3})
  // createTwoFilesPatch starts with `Index:` (when the names match) and `====` lines, which unified diffs do not have.
  const withoutHeader = patch.replace(/^(?:Index: [^\n]*\n)?=+\n/, '')
  return redactor ? redactor.redact(withoutHeader) : withoutHeader
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`
}
