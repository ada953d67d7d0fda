import path from 'node:path'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Target} from '../target/target.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts, wazuhPaths} from '../wazuh/manager.js'
import {childText, descendants, parseWazuhXml} from '../wazuh/xml-text.js'

export interface ManagerEnrollment {
  /** `<auth><use_password>` in the manager's ossec.conf; false when the element is absent (Wazuh's default). */
  passwordRequired: boolean
  /** Path of the file authd reads the password from. */
  passwordFile: string
  /** The password, when required and the file exists; undefined otherwise. Never print it. */
  password: string | undefined
}

export interface ManagerValues {
  version: string
  enrollment: ManagerEnrollment
}

/**
 * Reads from the manager what the Windows agent install needs: the Wazuh version
 * (`wazuh-control info`) and whether enrollment needs a password (`<auth><use_password>` in
 * ossec.conf, with the password in etc/authd.pass).
 */
export async function readManagerValues(target: Target, wazuhDir: string = DEFAULT_WAZUH_DIR): Promise<ManagerValues> {
  const facts = await readManagerFacts(target, wazuhDir)
  if (!facts.installed) {
    throw new MispwazuhError(`No Wazuh manager found on ${target.name}: ${wazuhPaths(wazuhDir).wazuhControl} or ${wazuhPaths(wazuhDir).ossecConf} is missing.`, {
      code: 'wazuh_manager_missing',
      exitCode: ExitCode.requirementsNotMet,
      fix: 'Point --host at the Wazuh manager, or leave --host out and pass --manager-address and --agent-version.',
    })
  }

  if (!facts.version) {
    throw new MispwazuhError(`Could not read the Wazuh version on ${target.name} from ${wazuhPaths(wazuhDir).wazuhControl} info.`, {
      code: 'wazuh_version_unknown',
      exitCode: ExitCode.requirementsNotMet,
      fix: 'Pass --agent-version with the manager\'s version, such as 4.12.0.',
    })
  }

  const ossecConf = await target.readText(wazuhPaths(wazuhDir).ossecConf)
  const passwordRequired = parseUsePassword(ossecConf, wazuhPaths(wazuhDir).ossecConf)
  const passwordFile = path.posix.join(wazuhDir, 'etc', 'authd.pass')
  let password: string | undefined
  if (passwordRequired && (await target.stat(passwordFile))?.type === 'file') {
    password = firstLine((await target.readFile(passwordFile)).toString('utf8'))
  }

  return {version: facts.version, enrollment: {passwordRequired, passwordFile, password}}
}

/**
 * Returns whether `<auth><use_password>` is `yes` in a manager's ossec.conf. ossec.conf may
 * hold several `<ossec_config>` blocks; the last `<use_password>` wins, as it does for Wazuh's
 * reader, which applies each block in order.
 */
export function parseUsePassword(ossecConf: string, file = 'ossec.conf'): boolean {
  const document = parseWazuhXml(ossecConf, file)
  let value: string | undefined
  for (const element of descendants(document.roots)) {
    if (element.name !== 'auth' || element.parent?.name !== 'ossec_config') continue
    const usePassword = childText(ossecConf, element, 'use_password')
    if (usePassword !== undefined) value = usePassword
  }

  return value?.toLowerCase() === 'yes'
}

/** authd reads the first line of authd.pass as the password. */
export function firstLine(text: string): string {
  return text.split(/\r?\n/)[0] ?? ''
}
