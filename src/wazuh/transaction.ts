import {createHash} from 'node:crypto'
import path from 'node:path'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {FilePlan} from '../steps/file-change.js'
import {backupPathFor, type FileStat, type Target} from '../target/target.js'
import type {RunLog} from '../ui/run-log.js'
import {wazuhPaths} from './manager.js'
import {compareValidation, locateProblem, runValidators, wazuhValidators, type ValidationFailure, type WazuhValidator} from './validation.js'
import {parseWazuhXml} from './xml-text.js'

/**
 * Applying several Wazuh files as one change. The apply is first recorded in a manifest on the
 * target, so that `mispwazuh wazuh rollback` can restore it later. Then each file is backed up
 * next to itself and written atomically, every file is checked (bytes as planned, structure)
 * and Wazuh's own validators run. If anything fails, every file of the apply is put back byte
 * for byte with its owner and mode, a created file is removed, and the record is dropped.
 */
export interface AppliedFile {
  path: string
  /** The backup written next to the file, when its content changed. */
  backup: string | null
  /** The apply created the file; a rollback removes it. */
  created: boolean
  /** SHA-256 of the content the apply wrote. */
  sha256: string
  /** SHA-256 of the content before the apply; null for a created file. */
  previousSha256: string | null
  previous: {mode: number; owner: string; group: string} | null
}

export interface ApplyRecord {
  id: string
  time: string
  command: string
  /** `pending` from before the first write until validation passed; a killed run leaves it pending. */
  status: 'pending' | 'applied'
  files: AppliedFile[]
  /** Validators that were not found on the target, so did not check this apply. */
  unvalidated: string[]
  rolledBackAt?: string
}

export interface ApplyManifest {
  version: 1
  applies: ApplyRecord[]
}

/** How many applies the manifest keeps; older ones can no longer be rolled back by the command. */
export const MANIFEST_HISTORY = 20

export function manifestPath(wazuhDir: string): string {
  return path.posix.join(wazuhPaths(wazuhDir).stateDir, 'config-applies.json')
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex')
}

export class WazuhValidationError extends MispwazuhError {
  readonly failures: ValidationFailure[]

  constructor(message: string, failures: ValidationFailure[], restored: string[]) {
    super(`${message}\nAll ${restored.length} file(s) of this apply were restored: ${restored.join(', ')}.`, {
      code: 'wazuh_validation_failed',
      exitCode: ExitCode.validationFailed,
      fix: 'Read the Wazuh message above; fix the named file or setting and run the command again. Nothing was changed.',
    })
    this.name = 'WazuhValidationError'
    this.failures = failures
  }
}

export interface ApplyOptions {
  wazuhDir: string
  /** The command that applies, recorded in the manifest, e.g. `wazuh configure`. */
  command: string
  log?: RunLog
  /** Defaults to wazuh-analysisd -t and wazuh-integratord -t under `wazuhDir`. */
  validators?: WazuhValidator[]
  /** The time recorded for the apply; defaults to now. */
  now?: Date
}

/** Raised inside an apply when a validator reports new problems; turned into WazuhValidationError after the restore. */
class ValidationRejected extends Error {
  constructor(readonly failures: ValidationFailure[]) {
    super('Wazuh validation failed')
  }
}

interface PreviousState {
  plan: FilePlan
  stat: FileStat | undefined
  content: Buffer | undefined
}

/**
 * Applies the file plans as one change (see the module comment). Returns the manifest record,
 * or undefined when no plan has a change.
 */
export async function applyWazuhFiles(target: Target, plans: readonly FilePlan[], options: ApplyOptions): Promise<ApplyRecord | undefined> {
  const changed = plans.filter((plan) => plan.contentChanged || plan.metadataChanged)
  if (changed.length === 0) return undefined

  const validators = options.validators ?? wazuhValidators(options.wazuhDir)
  const before = await runValidators(target, validators)
  const previous: PreviousState[] = []
  for (const plan of changed) previous.push({plan, stat: await target.stat(plan.desired.path), content: plan.current})
  await assertUnchangedSincePlan(target, previous)

  // The record goes into the manifest before any file changes, so a run killed halfway can
  // still be rolled back: each file is then either as before, or written with its backup present.
  const now = options.now ?? new Date()
  const stateDir = wazuhPaths(options.wazuhDir).stateDir
  const stateDirExisted = await target.exists(stateDir)
  const manifestExisted = await target.exists(manifestPath(options.wazuhDir))
  const record: ApplyRecord = {
    id: now.toISOString().replaceAll(/[-:.]/g, ''),
    time: now.toISOString(),
    command: options.command,
    status: 'pending',
    files: previous.map((state) => appliedFileFor(state, now)),
    unvalidated: [],
  }
  await updateManifest(target, options.wazuhDir, (manifest) => {
    manifest.applies.push(record)
  })

  try {
    for (const [index, state] of previous.entries()) await writePlannedFile(target, state, record.files[index] as AppliedFile, options.log)
    await checkWrittenFiles(target, changed)

    const after = await runValidators(target, validators)
    record.unvalidated = after.filter((run) => !run.available).map((run) => run.validator.argv[0] as string)
    const failures = compareValidation(before, after)
    if (failures.length > 0) throw new ValidationRejected(failures)
  } catch (error) {
    options.log?.error(`apply failed, restoring ${previous.length} file(s): ${(error as Error).message}`)
    const restored = await restoreFiles(target, previous)
    await removeBackups(target, record.files)
    await dropRecord(target, options.wazuhDir, record.id, {manifestExisted, stateDirExisted})

    if (error instanceof ValidationRejected) {
      const details = error.failures.flatMap((failure) => failure.problems.map((line) => `  ${failure.validator}: ${locateProblem(line)}`))
      throw new WazuhValidationError(`Wazuh rejected the new configuration:\n${details.join('\n')}`, error.failures, restored)
    }

    throw new MispwazuhError(`Applying the Wazuh configuration failed: ${(error as Error).message}\nAll ${restored.length} file(s) of this apply were restored: ${restored.join(', ')}.`, {
      code: error instanceof MispwazuhError ? error.code : 'wazuh_apply_failed',
      exitCode: error instanceof MispwazuhError ? error.exitCode : ExitCode.failed,
      fix: error instanceof MispwazuhError ? error.fix : 'Read the run log for details; the files are as they were before the run.',
      cause: error,
    })
  }

  record.status = 'applied'
  await updateManifest(target, options.wazuhDir, (manifest) => {
    const entry = manifest.applies.find((candidate) => candidate.id === record.id)
    if (entry) Object.assign(entry, record)
    else manifest.applies.push(record)
  })
  return record
}

/** Raises an error, before anything is written, when a file changed between the plan and the apply. */
async function assertUnchangedSincePlan(target: Target, previous: readonly PreviousState[]): Promise<void> {
  const changed: string[] = []
  for (const state of previous) {
    const current = state.stat?.type === 'file' ? await target.readFile(state.plan.desired.path) : undefined
    const same = current === undefined ? state.content === undefined : state.content !== undefined && current.equals(state.content)
    if (!same) changed.push(state.plan.desired.path)
  }

  if (changed.length === 0) return
  throw new MispwazuhError(`${changed.join(', ')} changed after the plan was made, so the planned edit no longer fits. Nothing was written.`, {
    code: 'wazuh_file_changed_since_plan',
    exitCode: ExitCode.failed,
    fix: 'Run the command again to plan from the current files (another program or run may be editing them).',
  })
}

function appliedFileFor(state: PreviousState, now: Date): AppliedFile {
  const {plan, stat, content} = state
  return {
    path: plan.desired.path,
    backup: content !== undefined && plan.contentChanged ? backupPathFor(plan.desired.path, now) : null,
    created: content === undefined,
    sha256: sha256(plan.desired.content),
    previousSha256: content === undefined ? null : sha256(content),
    previous: stat ? {mode: stat.mode & 0o7777, owner: stat.owner, group: stat.group} : null,
  }
}

/** Writes the backup (a copy of the old content with the old owner and mode), then the file itself, atomically. */
async function writePlannedFile(target: Target, state: PreviousState, applied: AppliedFile, log: RunLog | undefined): Promise<void> {
  const {plan} = state
  const {owner, group, mode} = plan.desired
  if (applied.backup !== null && state.content !== undefined) {
    const old = applied.previous
    await target.writeFile(applied.backup, state.content, old ? {mode: old.mode, owner: old.owner, group: old.group} : {})
  }

  if (plan.contentChanged) {
    await target.writeFile(plan.desired.path, plan.desired.content, {mode, owner, group})
  } else {
    await target.chown(plan.desired.path, owner, group)
    await target.chmod(plan.desired.path, mode)
  }

  log?.info(`wrote ${plan.desired.path}${applied.backup ? ` (backup ${applied.backup})` : ''}`)
}

/** Raises an error unless each written file contains exactly the planned bytes, parses as a Wazuh file and has the planned owner and mode. */
async function checkWrittenFiles(target: Target, plans: readonly FilePlan[]): Promise<void> {
  for (const plan of plans) {
    const written = await target.readFile(plan.desired.path)
    const expected = typeof plan.desired.content === 'string' ? Buffer.from(plan.desired.content) : plan.desired.content
    if (!written.equals(expected)) throw new Error(`${plan.desired.path} does not hold the planned content after writing`)
    parseWazuhXml(written.toString('utf8'), plan.desired.path)

    const stat = await target.stat(plan.desired.path)
    const {owner, group, mode} = plan.desired
    if (!stat || stat.owner !== owner || stat.group !== group || (stat.mode & 0o7777) !== mode) {
      throw new Error(`${plan.desired.path} is ${stat?.owner}:${stat?.group} ${(stat?.mode ?? 0).toString(8)} after writing, expected ${owner}:${group} ${mode.toString(8)}`)
    }
  }
}

/** Puts every file back as it was (content, owner, mode); removes files the apply created. Returns the paths handled. */
async function restoreFiles(target: Target, previous: readonly PreviousState[]): Promise<string[]> {
  const restored: string[] = []
  const failed: string[] = []
  for (const state of [...previous].reverse()) {
    const file = state.plan.desired.path
    try {
      if (state.content === undefined) {
        if (await target.exists(file)) await target.remove(file)
      } else {
        const {stat} = state
        await target.writeFile(file, state.content, stat ? {mode: stat.mode & 0o7777, owner: stat.owner, group: stat.group} : {})
        const check = await target.readFile(file)
        if (!check.equals(state.content)) throw new Error('content differs after restoring')
      }

      restored.push(file)
    } catch (error) {
      failed.push(`${file} (${(error as Error).message})`)
    }
  }

  if (failed.length > 0) {
    throw new MispwazuhError(`Restoring files after a failed apply failed for: ${failed.join(', ')}. Their backups (*.mispwazuh-<time>) are next to them.`, {
      code: 'wazuh_restore_failed',
      exitCode: ExitCode.failed,
      fix: 'Copy each backup over its file by hand, keeping owner and mode, before restarting the manager.',
    })
  }

  return restored.reverse()
}

/** Removes the backups a failed apply wrote: the files are restored, so the backups would only mislead. */
async function removeBackups(target: Target, applied: readonly AppliedFile[]): Promise<void> {
  for (const file of applied) {
    if (file.backup !== null && (await target.exists(file.backup))) await target.remove(file.backup)
  }
}

export async function readManifest(target: Target, wazuhDir: string): Promise<ApplyManifest> {
  const file = manifestPath(wazuhDir)
  if (!(await target.exists(file))) return {version: 1, applies: []}
  const text = await target.readText(file)
  let manifest: ApplyManifest
  try {
    manifest = JSON.parse(text) as ApplyManifest
  } catch (error) {
    throw new MispwazuhError(`${file} is not valid JSON: ${(error as Error).message}`, {code: 'wazuh_manifest_invalid', fix: `Remove ${file}; past applies then can no longer be rolled back by mispwazuh, but their backups stay next to each file.`})
  }

  if (manifest.version !== 1 || !Array.isArray(manifest.applies)) {
    throw new MispwazuhError(`${file} has an unknown format.`, {code: 'wazuh_manifest_invalid', fix: `Remove ${file}; the backups stay next to each file.`})
  }

  return manifest
}

/**
 * Writes the manifest: root-owned and readable by root only, in a directory the wazuh user
 * cannot write, because a rollback restores files as root from the paths it lists.
 */
export async function writeManifest(target: Target, wazuhDir: string, manifest: ApplyManifest): Promise<void> {
  const directory = wazuhPaths(wazuhDir).stateDir
  if (!(await target.exists(directory))) await target.mkdir(directory, {mode: 0o750, owner: 'root', group: 'wazuh'})
  await target.writeFile(manifestPath(wazuhDir), `${JSON.stringify(manifest, null, 2)}\n`, {mode: 0o600, owner: 'root', group: 'root'})
}

/** Removes a failed apply's record; the manifest and its directory go too when this apply created them. */
async function dropRecord(target: Target, wazuhDir: string, id: string, existed: {manifestExisted: boolean; stateDirExisted: boolean}): Promise<void> {
  const manifest = await readManifest(target, wazuhDir)
  manifest.applies = manifest.applies.filter((entry) => entry.id !== id)
  if (manifest.applies.length > 0 || existed.manifestExisted) {
    await writeManifest(target, wazuhDir, manifest)
    return
  }

  await target.remove(manifestPath(wazuhDir))
  if (!existed.stateDirExisted) await target.exec(['rmdir', '--', wazuhPaths(wazuhDir).stateDir], {allowExitCodes: 'any'})
}

/** Reads the manifest, lets `change` edit it, keeps the last MANIFEST_HISTORY records and writes it back. */
export async function updateManifest(target: Target, wazuhDir: string, change: (manifest: ApplyManifest) => void): Promise<void> {
  const manifest = await readManifest(target, wazuhDir)
  change(manifest)
  manifest.applies = manifest.applies.slice(-MANIFEST_HISTORY)
  await writeManifest(target, wazuhDir, manifest)
}
