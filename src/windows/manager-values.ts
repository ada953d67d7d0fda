import path from 'node:path'

import {ExitCode, MispwazuhError} from '../errors.js'
import type {Target} from '../target/target.js'
import {DEFAULT_WAZUH_DIR, readManagerFacts, wazuhPaths} from '../wazuh/manager.js'
import {childText, descendants, parseWazuhXml} from '../wazuh/xml-text.js'

export interface ManagerEnrollment {
  /** `<auth><use_password>` in the manager's ossec.conf; false when the element is absent (Wazuh's default). */
  passwordRequired: boolean
  /** `<auth><disabled>yes`: authd does not run, so agents cannot enroll by themselves. */
  authDisabled: boolean
  /** `<auth><port>` when it is not Wazuh's default 1515, else undefined. */
  registrationPort: number | undefined
  /** `<port>` of the `<remote>` block with `<connection>secure` when it is not the default 1514, else undefined. */
  managerPort: number | undefined
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
  const settings = parseEnrollmentSettings(ossecConf, wazuhPaths(wazuhDir).ossecConf)
  const passwordRequired = settings.usePassword
  const passwordFile = path.posix.join(wazuhDir, 'etc', 'authd.pass')
  let password: string | undefined
  if (passwordRequired && (await target.stat(passwordFile))?.type === 'file') {
    password = firstLine((await target.readFile(passwordFile)).toString('utf8'))
  }

  return {
    version: facts.version,
    enrollment: {passwordRequired, authDisabled: settings.authDisabled, registrationPort: settings.registrationPort, managerPort: settings.managerPort, passwordFile, password},
  }
}

export interface EnrollmentSettings {
  usePassword: boolean
  authDisabled: boolean
  registrationPort: number | undefined
  managerPort: number | undefined
}

const DEFAULT_REGISTRATION_PORT = 1515
const DEFAULT_MANAGER_PORT = 1514

/**
 * Reads what agents need to know about enrollment from a manager's ossec.conf: `<auth>`
 * (use_password, disabled, port) and the port of the secure `<remote>` connection. ossec.conf
 * may hold several `<ossec_config>` blocks, and a later value wins, as it does for Wazuh's
 * reader, which applies each block in order. Ports equal to Wazuh's defaults come back undefined.
 */
export function parseEnrollmentSettings(ossecConf: string, file = 'ossec.conf'): EnrollmentSettings {
  const document = parseWazuhXml(ossecConf, file)
  let usePassword: string | undefined
  let disabled: string | undefined
  let authPort: string | undefined
  let remotePort: string | undefined
  for (const element of descendants(document.roots)) {
    if (element.parent?.name !== 'ossec_config') continue
    if (element.name === 'auth') {
      usePassword = childText(ossecConf, element, 'use_password') ?? usePassword
      disabled = childText(ossecConf, element, 'disabled') ?? disabled
      authPort = childText(ossecConf, element, 'port') ?? authPort
    } else if (element.name === 'remote' && (childText(ossecConf, element, 'connection') ?? 'secure') === 'secure') {
      remotePort = childText(ossecConf, element, 'port') ?? remotePort
    }
  }

  return {
    usePassword: usePassword?.toLowerCase() === 'yes',
    authDisabled: disabled?.toLowerCase() === 'yes',
    registrationPort: nonDefaultPort(authPort, DEFAULT_REGISTRATION_PORT),
    managerPort: nonDefaultPort(remotePort, DEFAULT_MANAGER_PORT),
  }
}

/** Returns whether `<auth><use_password>` is `yes` in a manager's ossec.conf. */
export function parseUsePassword(ossecConf: string, file = 'ossec.conf'): boolean {
  return parseEnrollmentSettings(ossecConf, file).usePassword
}

function nonDefaultPort(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined
  const port = Number(text)
  return port === fallback || port < 1 || port > 65_535 ? undefined : port
}

/** authd reads the first line of authd.pass as the password. */
export function firstLine(text: string): string {
  return text.split(/\r?\n/)[0] ?? ''
}
