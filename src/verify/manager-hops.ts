import path from 'node:path/posix'

import {integrationScript} from '../steps/integration-install.js'
import {INTEGRATION_NAME, integrationGroups, SELFTEST_GROUP} from '../wazuh/integration-groups.js'
import {supportsIntegrationTimeout, wazuhPaths} from '../wazuh/manager.js'
import {readIntegrationBlocks, type IntegrationBlock} from '../wazuh/ossec-conf.js'
import {rulesetGroups} from '../wazuh/rules.js'
import {runValidators, wazuhValidators} from '../wazuh/validation.js'
import type {VerifyFacts} from './facts.js'
import {fail, octal, pass, type HopOutcome, type VerifyContext} from './types.js'

const SETUP_AGAIN = 'Run `mispwazuh setup` again with the same options.'

/** Tags wazuh-integratord accepts in `<integration>` (integrator-config.c); `timeout` and `retries` only from 4.8.0. */
const INTEGRATION_TAGS = new Set(['name', 'api_key', 'hook_url', 'level', 'rule_id', 'group', 'event_location', 'alert_format', 'max_log', 'options', 'timeout', 'retries'])

export interface ManagerState {
  running: boolean
}

/** Checks that the manager is installed and running, reads its version, and runs `wazuh-analysisd -t` and `wazuh-integratord -t`. */
export async function checkManager(context: VerifyContext, facts: VerifyFacts, state: ManagerState): Promise<HopOutcome> {
  const manager = await facts.manager()
  const paths = wazuhPaths(facts.wazuhDir)
  if (!manager.installed) return fail(`No Wazuh manager in ${facts.wazuhDir} on ${context.target.name}: ${paths.wazuhControl} or ${paths.ossecConf} is missing.`, 'Install the manager: `mispwazuh setup` installs it.')
  if (manager.type !== undefined && manager.type !== 'server') return fail(`${facts.wazuhDir} holds a Wazuh ${manager.type}, not a manager.`, 'Run verify against the Wazuh manager host (--host).')

  const status = await context.target.exec([paths.wazuhControl, 'status'], {allowExitCodes: 'any', timeoutMs: 60_000})
  const running = new Set<string>()
  const stopped: string[] = []
  for (const line of status.stdout.split('\n')) {
    const match = /^(wazuh-[\w-]+) (is running|not running)/.exec(line.trim())
    if (!match) continue
    if (match[2] === 'is running') running.add(match[1] as string)
    else stopped.push(match[1] as string)
  }

  const version = manager.version ? `Wazuh ${manager.version}` : 'Wazuh (version unknown)'
  const conf = await facts.ossecConf()
  const hasIntegration = conf.value ? readIntegrationBlocks(conf.value).length > 0 : false
  const required = ['wazuh-analysisd', ...(hasIntegration ? ['wazuh-integratord'] : [])]
  const missing = required.filter((daemon) => !running.has(daemon))
  state.running = running.has('wazuh-analysisd')

  const validations = await runValidators(context.target, wazuhValidators(facts.wazuhDir))
  const invalid = validations.filter((run) => run.available && (run.exitCode !== 0 || run.problems.some((line) => /\b(?:ERROR|CRITICAL)\b/.test(line))))
  const warnings = validations.flatMap((run) => run.problems.filter((line) => /\bWARNING\b/.test(line)).map((line) => `${run.validator.name} -t: ${line}`))

  if (invalid.length > 0) {
    const lines = invalid.flatMap((run) => run.problems.filter((line) => !/\bWARNING\b/.test(line)).slice(0, 3).map((line) => `${run.validator.name} -t: ${line}`))
    return fail(`${version}: the configuration does not validate: ${lines.join('; ') || `${invalid.map((run) => run.validator.name).join(', ')} exited non-zero`}.`, `Fix the file and line named above, then check with \`${paths.analysisd} -t\` and \`${paths.integratord} -t\`. The manager will not start with this configuration.`, warnings)
  }

  if (missing.length > 0) {
    return fail(`${version} is installed but ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not running (${running.size} daemons running).`, `Start the manager: \`systemctl restart wazuh-manager\`, then read ${facts.wazuhDir}/logs/ossec.log for the reason it stopped.`, warnings)
  }

  const checked = validations.filter((run) => run.available).map((run) => `${run.validator.name} -t`).join(' and ')
  return pass(`${version} is running (${running.size} daemons${stopped.length > 0 ? `, stopped: ${stopped.join(', ')}` : ''}); ${checked || 'no validator found'} accept${checked.includes(' and ') ? '' : 's'} the configuration.`, warnings)
}

/** Checks the custom-misp `<integration>` block: present once, JSON alerts, group names that exist in the ruleset, tags valid for this version. */
export async function checkIntegrationBlock(facts: VerifyFacts): Promise<HopOutcome> {
  const conf = await facts.ossecConf()
  if (!conf.value) return fail(`Cannot read ossec.conf: ${conf.problem}.`, SETUP_AGAIN)
  const blocks = readIntegrationBlocks(conf.value)
  const file = conf.value.file
  if (blocks.length === 0) {
    return fail(`${file} has no <integration> block named ${INTEGRATION_NAME}, so integratord never runs the integration.`, `${SETUP_AGAIN} It adds the block and restarts the manager.`)
  }

  if (blocks.length > 1) {
    return fail(`${file} has ${blocks.length} ${INTEGRATION_NAME} blocks (lines ${blocks.map((block) => block.line).join(', ')}); each one runs the script again for every alert.`, `Remove all but the managed block (between the mispwazuh markers), or ${SETUP_AGAIN.toLowerCase()} It removes hand-made copies.`)
  }

  const block = blocks[0] as IntegrationBlock
  const where = `${file} line ${block.line}`
  const manager = await facts.manager()
  const problems: string[] = []
  const notes: string[] = []

  for (const tag of block.tags) {
    if (!INTEGRATION_TAGS.has(tag)) problems.push(`<${tag}> is not an integration tag, and integratord stops the manager's start on it`)
    else if ((tag === 'timeout' || tag === 'retries') && !supportsIntegrationTimeout(manager.version)) problems.push(`<${tag}> needs Wazuh 4.8 or later (this manager: ${manager.version ?? 'unknown'})`)
  }

  if (block.alertFormat !== 'json') problems.push(`<alert_format> is ${block.alertFormat === undefined ? 'missing' : `"${block.alertFormat}"`}, not json, so the script gets a text alert it cannot read`)
  if (block.tags.includes('api_key')) notes.push('The block passes <api_key>, which integratord puts on the process list; the integration reads its key from its own config file.')
  if (block.tags.includes('level') || block.tags.includes('rule_id')) notes.push('The block also filters on <level> or <rule_id>; integratord ANDs every filter with <group>.')

  const ruleset = await facts.ruleset()
  if (block.groups.length === 0) {
    problems.push('<group> is missing or empty, so every alert goes to the integration, including its own results')
  } else if (ruleset.value) {
    const known = rulesetGroups(ruleset.value.files)
    const spaced = block.groups.filter((group) => group !== group.trim())
    const stock = new Set(integrationGroups())
    const absent = block.groups.filter((group) => group === group.trim() && !known.has(group))
    // A stock name the installed ruleset lacks (an older Wazuh without that rule file) only costs coverage; any other name is a typo.
    const unknown = absent.filter((group) => !stock.has(group))
    const missingStock = absent.filter((group) => stock.has(group))
    if (spaced.length > 0) problems.push(`group entries ${spaced.map((group) => `"${group}"`).join(', ')} contain spaces, and integratord compares them byte for byte`)
    if (unknown.length > 0) problems.push(`group${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')} exist${unknown.length === 1 ? 's' : ''} in no rule of the installed ruleset, so no alert ever matches ${unknown.length === 1 ? 'it' : 'them'}`)
    if (missingStock.length > 0) notes.push(`The installed ruleset has no rule in ${missingStock.join(', ')}, so those entries match nothing here.`)
    if (!block.groups.includes(SELFTEST_GROUP)) problems.push(`the group list lacks ${SELFTEST_GROUP}, so the self-test never reaches the integration`)
    const leftOut = integrationGroups().filter((group) => !block.groups.includes(group) && group !== SELFTEST_GROUP)
    if (leftOut.length > 0) notes.push(`The group list leaves out ${leftOut.join(', ')}; those events are not looked up.`)
  } else {
    notes.push(`The group names were not compared with the ruleset: ${ruleset.problem}.`)
  }

  if (problems.length > 0) return fail(`The ${INTEGRATION_NAME} block at ${where}: ${problems.join('; ')}.`, `Correct the block, or ${SETUP_AGAIN.toLowerCase()} It rewrites the managed block with the stock group names.`, notes)
  return pass(`One ${INTEGRATION_NAME} block at ${where}: JSON alerts, ${block.groups.length} groups, none misspelled, tags valid for Wazuh ${manager.version ?? '(version unknown)'}.`, notes)
}

/**
 * Checks the script integratord runs: present, root:wazuh 0750, not writable by wazuh, LF line
 * endings, and a shebang interpreter that exists and compiles the script as user wazuh.
 */
export async function checkIntegrationScript(context: VerifyContext, facts: VerifyFacts): Promise<HopOutcome> {
  const {target} = context
  const script = path.join(facts.wazuhDir, 'integrations', INTEGRATION_NAME)
  const stat = await target.stat(script)
  if (!stat) return fail(`${script} does not exist; integratord logs "File not found inside 'integrations'" and never runs it.`, `${SETUP_AGAIN} It installs the script.`)
  if (stat.type !== 'file') return fail(`${script} is a ${stat.type}, not a regular file.`, `Replace it with the script: ${SETUP_AGAIN.toLowerCase()}`)

  const problems: string[] = []
  const fixes: string[] = []
  const ownership = `${stat.owner}:${stat.group} ${octal(stat.mode)}`
  const writable = await target.exec(['runuser', '-u', 'wazuh', '--', 'test', '-w', script], {allowExitCodes: 'any'})
  if (stat.owner !== 'root' || stat.group !== 'wazuh' || (stat.mode & 0o7777) !== 0o750 || writable.exitCode === 0) {
    const reason = writable.exitCode === 0 ? 'user wazuh can write it, so integratord refuses to run it ("has write permissions")' : 'integratord needs it root:wazuh 0750'
    problems.push(`it is ${ownership}: ${reason}`)
    fixes.push(`chown root:wazuh ${script} && chmod 0750 ${script}`)
  }

  const bytes = await target.readFile(script)
  const firstLine = bytes.subarray(0, Math.max(0, bytes.indexOf(0x0a))).toString('utf8')
  if (bytes.includes('\r\n')) {
    problems.push(`it has CRLF line endings, so the kernel looks for the interpreter "${firstLine.slice(2).trim().replace(/\r$/, '')}\\r" and integratord logs "Couldn't execute command"`)
    fixes.push(`sed -i 's/\\r$//' ${script}`)
  }

  let interpreter: string | undefined
  if (!firstLine.startsWith('#!')) {
    problems.push('it has no #! line, so it cannot be executed directly')
  } else {
    const parts = firstLine.slice(2).replace(/\r$/, '').trim().split(/\s+/)
    interpreter = parts[0] === '/usr/bin/env' ? parts[1] : parts[0]
    if (parts[0] === '/usr/bin/env') problems.push(`its #! line runs "${firstLine.slice(2).trim()}", which depends on PATH; stock Ubuntu has no "python"`)
  }

  if (interpreter !== undefined && interpreter.startsWith('/')) {
    const runnable = await target.exec(['runuser', '-u', 'wazuh', '--', 'test', '-x', interpreter], {allowExitCodes: 'any'})
    if (runnable.exitCode !== 0) {
      problems.push(`its interpreter ${interpreter} does not exist or user wazuh cannot run it`)
    } else if (!bytes.includes('\r\n')) {
      const program = 'import sys\nwith open(sys.argv[1], "rb") as handle:\n    compile(handle.read(), sys.argv[1], "exec")\n'
      const compiled = await target.exec(['runuser', '-u', 'wazuh', '--', interpreter, '-c', program, script], {allowExitCodes: 'any', timeoutMs: 60_000})
      if (compiled.exitCode !== 0) problems.push(`${interpreter} cannot compile it as user wazuh: ${(compiled.stderr || compiled.stdout).trim().split('\n').pop()}`)
    }
  }

  const notes: string[] = []
  if (!bytes.equals(Buffer.from(integrationScript(facts.wazuhDir), 'utf8'))) notes.push(`${script} differs from the script this mispwazuh version installs (edited by hand, or installed by another version).`)

  if (problems.length > 0) return fail(`${script}: ${problems.join('; ')}.`, fixes.length > 0 ? `${fixes.join(' ; ')} (or ${SETUP_AGAIN.toLowerCase()})` : `Reinstall the script: ${SETUP_AGAIN.toLowerCase()}`, notes)
  return pass(`${script} is ${ownership}, not writable by wazuh, has LF line endings, and ${interpreter} compiles it as user wazuh.`, notes)
}

/** Checks the integration's config file: valid JSON with a URL and key, readable by the wazuh group and by no other user. */
export async function checkIntegrationConfig(context: VerifyContext, facts: VerifyFacts): Promise<HopOutcome> {
  const config = await facts.integrationConfig()
  if (!config.value) return fail(`${config.problem}; the integration logs "no lookup done" for every alert.`, `${SETUP_AGAIN} It writes the integration's config file.`)

  const {path: file, stat, values} = config.value
  const problems: string[] = []
  const mode = stat.mode & 0o7777
  if (stat.owner !== 'root' || stat.group !== 'wazuh' || (mode & 0o007) !== 0 || (mode & 0o020) !== 0 || (mode & 0o040) === 0) {
    problems.push(`it is ${stat.owner}:${stat.group} ${octal(mode)}; it holds the Wazuh auth key, so it must be root:wazuh 0640 (readable by the wazuh group only)`)
  }

  const readable = await context.target.exec(['runuser', '-u', 'wazuh', '--', 'test', '-r', file], {allowExitCodes: 'any'})
  if (readable.exitCode !== 0) problems.push('user wazuh cannot read it (check the directory permissions too)')

  for (const key of ['misp_url', 'api_key']) {
    if (typeof values[key] !== 'string' || values[key] === '') problems.push(`"${key}" is missing`)
  }

  const notes: string[] = []
  if (values.verify_tls === false) notes.push('verify_tls is false: the integration does not check MISP\'s certificate.')
  if (problems.length > 0) return fail(`${file}: ${problems.join('; ')}.`, `chown root:wazuh ${file} && chmod 0640 ${file}, and fill in the missing values (or ${SETUP_AGAIN.toLowerCase()})`, notes)
  return pass(`${file} is root:wazuh ${octal(mode)}, readable by user wazuh, and names ${String(values.misp_url)}${values.ca_file ? ` with ca_file ${String(values.ca_file)}` : ''}.`, notes)
}

