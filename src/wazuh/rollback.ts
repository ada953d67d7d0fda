import path from 'node:path'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Change} from '../plan/step.js'
import {unifiedDiff} from '../steps/file-change.js'
import type {Target} from '../target/target.js'
import type {Redactor} from '../ui/redact.js'
import type {RunLog} from '../ui/run-log.js'
import {readManifest, sha256, writeManifest, type AppliedFile, type ApplyRecord} from './transaction.js'
import {runValidators, wazuhValidators} from './validation.js'

/**
 * Undoing the last Wazuh configuration apply from its manifest record: each file goes back to
 * its backup with the backup's owner and mode, and a file the apply created is removed. A file
 * that changed after the apply is not overwritten unless forced, because that would lose the
 * later edit.
 */
export interface RollbackFile {
  applied: AppliedFile
  /** `none` when the file is already as before the apply (a run killed before writing it). */
  action: 'restore' | 'remove' | 'metadata' | 'none'
  /** Content to put back; undefined for `remove`. */
  content: Buffer | undefined
  owner: string | undefined
  group: string | undefined
  mode: number | undefined
  /** The reason the file differs from what the apply wrote; undefined when it does not. */
  conflict: string | undefined
  change: Change
}

export interface RollbackPlan {
  record: ApplyRecord
  files: RollbackFile[]
  conflicts: string[]
}

/** Plans the rollback of the last apply that was not rolled back yet. Raises an error when there is none. */
export async function planRollback(target: Target, wazuhDir: string, redactor?: Redactor): Promise<RollbackPlan> {
  const manifest = await readManifest(target, wazuhDir)
  const record = [...manifest.applies].reverse().find((entry) => entry.rolledBackAt === undefined)
  if (!record) {
    throw new MispwazuhError(`No mispwazuh apply to roll back in ${wazuhDir} on ${target.name}.`, {
      code: 'wazuh_nothing_to_roll_back',
      exitCode: ExitCode.failed,
      fix: 'Nothing to do: mispwazuh has not changed the Wazuh configuration here, or its last apply was already rolled back.',
    })
  }

  const files: RollbackFile[] = []
  for (const applied of record.files) files.push(await planRollbackFile(target, wazuhDir, applied, redactor))
  return {record, files, conflicts: files.flatMap((file) => (file.conflict ? [`${file.applied.path}: ${file.conflict}`] : []))}
}

async function planRollbackFile(target: Target, wazuhDir: string, applied: AppliedFile, redactor: Redactor | undefined): Promise<RollbackFile> {
  assertManagedPath(wazuhDir, applied)
  const stat = await target.stat(applied.path)
  const current = stat?.type === 'file' ? await target.readFile(applied.path) : undefined
  const currentHash = current === undefined ? null : sha256(current)

  // A run killed before it wrote this file leaves it as it was: nothing to restore.
  const untouched = applied.created ? current === undefined : currentHash === applied.previousSha256 && applied.backup !== null
  if (untouched) {
    return {applied, action: 'none', content: undefined, owner: undefined, group: undefined, mode: undefined, conflict: undefined, change: {kind: 'file', summary: `leave ${applied.path} (as before the apply)`, path: applied.path}}
  }

  let conflict: string | undefined
  if (current === undefined) conflict = 'the file no longer exists'
  else if (currentHash !== applied.sha256) conflict = 'the file changed after the apply'

  if (applied.created) {
    return {applied, action: 'remove', content: undefined, owner: undefined, group: undefined, mode: undefined, conflict, change: {kind: 'remove', summary: `remove ${applied.path} (created by the apply)`, path: applied.path, diff: unifiedDiff(applied.path, current, '', false, redactor)}}
  }

  if (applied.backup === null) {
    // Only owner or mode changed in the apply.
    const previous = applied.previous
    return {applied, action: 'metadata', content: undefined, owner: previous?.owner, group: previous?.group, mode: previous?.mode, conflict, change: {kind: 'file', summary: `set ${applied.path} back to ${previous?.owner}:${previous?.group} 0${previous?.mode.toString(8)}`, path: applied.path}}
  }

  const backupStat = await target.stat(applied.backup)
  if (backupStat?.type !== 'file') {
    throw new MispwazuhError(`The backup ${applied.backup} of ${applied.path} is missing, so the apply cannot be rolled back.`, {
      code: 'wazuh_backup_missing',
      exitCode: ExitCode.failed,
      fix: `Restore ${applied.path} by hand from another backup (${applied.path}.mispwazuh-*) if one fits.`,
    })
  }

  const content = await target.readFile(applied.backup)
  return {
    applied,
    action: 'restore',
    content,
    owner: backupStat.owner,
    group: backupStat.group,
    mode: backupStat.mode & 0o7777,
    conflict,
    change: {kind: 'file', summary: `restore ${applied.path} from ${path.posix.basename(applied.backup)}`, path: applied.path, diff: unifiedDiff(applied.path, current, content, false, redactor)},
  }
}

/** Rejects manifest entries outside the Wazuh directory: a rollback writes as root to the paths it lists. */
function assertManagedPath(wazuhDir: string, applied: AppliedFile): void {
  const inside = (file: string): boolean => {
    const relative = path.posix.relative(wazuhDir, path.posix.normalize(file))
    return relative !== '' && !relative.startsWith('..') && !path.posix.isAbsolute(relative)
  }

  const backupFits = applied.backup === null || (applied.backup.startsWith(`${applied.path}.mispwazuh-`) && inside(applied.backup))
  if (!inside(applied.path) || !backupFits) {
    throw new MispwazuhError(`The apply manifest lists ${applied.path} (backup ${applied.backup ?? 'none'}), which is outside ${wazuhDir}.`, {
      code: 'wazuh_manifest_invalid',
      exitCode: ExitCode.failed,
      fix: 'The manifest was changed by something other than mispwazuh; check it before restoring any file by hand.',
    })
  }
}

export interface RollbackResult {
  record: ApplyRecord
  restored: string[]
  removed: string[]
  /** WARNING and ERROR lines that Wazuh's validators print after the rollback (old ones included). */
  validationProblems: string[]
}

/**
 * Performs a planned rollback. With conflicts and without `force`, nothing is written. The
 * current files are backed up before being replaced, so a rollback can itself be undone by hand.
 */
export async function applyRollback(target: Target, wazuhDir: string, plan: RollbackPlan, options: {force?: boolean; log?: RunLog} = {}): Promise<RollbackResult> {
  if (plan.conflicts.length > 0 && !options.force) {
    throw new MispwazuhError(`The files changed after the apply of ${plan.record.time}:\n  ${plan.conflicts.join('\n  ')}`, {
      code: 'wazuh_rollback_conflict',
      exitCode: ExitCode.failed,
      fix: 'Review the changes; run `mispwazuh wazuh rollback --force` to restore the backups anyway (the current files are backed up first).',
    })
  }

  const restored: string[] = []
  const removed: string[] = []
  for (const file of plan.files) {
    const filePath = file.applied.path
    if (file.action === 'none') continue
    if (file.action === 'remove') {
      if (await target.exists(filePath)) await target.remove(filePath)
      removed.push(filePath)
    } else if (file.action === 'metadata') {
      if (file.owner && file.group) await target.chown(filePath, file.owner, file.group)
      if (file.mode !== undefined) await target.chmod(filePath, file.mode)
      restored.push(filePath)
    } else {
      await target.writeFile(filePath, file.content as Buffer, {owner: file.owner, group: file.group, mode: file.mode, backup: await target.exists(filePath)})
      restored.push(filePath)
    }

    options.log?.info(`rollback: ${file.change.summary}`)
  }

  const manifest = await readManifest(target, wazuhDir)
  const entry = manifest.applies.find((candidate) => candidate.id === plan.record.id)
  if (entry) entry.rolledBackAt = new Date().toISOString()
  await writeManifest(target, wazuhDir, manifest)

  const runs = await runValidators(target, wazuhValidators(wazuhDir))
  const validationProblems = runs.filter((run) => run.available && (run.exitCode !== 0 || run.problems.length > 0)).flatMap((run) => run.problems.map((line) => `${run.validator.name}: ${line}`))
  return {record: plan.record, restored, removed, validationProblems}
}
