import {readFileSync} from 'node:fs'

import {Flags, type Interfaces} from '@oclif/core'
import {isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode} from 'yaml'

import {InvalidInputError} from '../errors.js'
import {envName, settings, type SettingDefinition, type SettingKey, type Settings} from './schema.js'

export type SettingSource = 'flag' | 'env' | 'config' | 'prompt' | 'default' | 'unset'

export interface Resolved<K extends SettingKey> {
  values: Settings<K>
  sources: Record<K, SettingSource>
}

/** Asks the user for one value. Tests inject their own, so they need no terminal. */
export type Prompter = (definition: SettingDefinition, validate: (value: string) => true | string) => Promise<string>

export interface ResolveOptions<K extends SettingKey> {
  keys: readonly K[]
  required?: readonly K[]
  /** Parsed flags keyed by flag name; a flag the user did not pass is undefined. */
  flags: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  configFile?: string
  interactive?: boolean
  prompter?: Prompter
}

/**
 * Resolves settings: flag > environment > config file > prompt > default. Every invalid value
 * and every missing required value is reported in one error (exit code 2) before anything
 * touches a host.
 */
export async function resolveSettings<K extends SettingKey>(options: ResolveOptions<K>): Promise<Resolved<K>> {
  const env = options.env ?? process.env
  const config = options.configFile ? readConfigFile(options.configFile) : undefined
  const values = {} as Record<K, unknown>
  const sources = {} as Record<K, SettingSource>
  const problems: string[] = []

  for (const key of options.keys) {
    const definition: SettingDefinition = settings[key]
    const fromFlag = options.flags[definition.flag]
    const fromEnv = env[envName(key)]
    const fromConfig = config?.values.get(definition.flag)
    let raw: unknown
    let origin: string
    if (fromFlag !== undefined) {
      raw = fromFlag
      sources[key] = 'flag'
      origin = `--${definition.flag}`
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw = fromEnv
      sources[key] = 'env'
      origin = envName(key)
    } else if (fromConfig !== undefined) {
      raw = fromConfig.value
      sources[key] = 'config'
      origin = `${'file' in config! ? config.file : ''} line ${fromConfig.line} (${definition.flag})`
    } else {
      sources[key] = 'unset'
      continue
    }

    const parsed = definition.schema.safeParse(raw)
    if (parsed.success) {
      values[key] = parsed.data
    } else {
      const shown = definition.secret ? '(value hidden)' : `"${String(raw)}"`
      problems.push(`Invalid value ${shown} for ${origin}: ${parsed.error.issues.map((issue) => issue.message).join(' ')}`)
    }
  }

  if (problems.length > 0) {
    throw new InvalidInputError(problems.join('\n'), 'Correct the values named in this message and run again.')
  }

  const missing = (options.required ?? []).filter((key) => values[key] === undefined && definitionOf(key).default === undefined)
  if (missing.length > 0 && options.interactive) {
    const prompter = options.prompter ?? inquirerPrompter
    for (const key of missing.filter((item) => definitionOf(item).prompt)) {
      const definition: SettingDefinition = settings[key]
      const answer = await prompter(definition, (value) => {
        const parsed = definition.schema.safeParse(value)
        return parsed.success ? true : parsed.error.issues.map((issue) => issue.message).join(' ')
      })
      values[key] = definition.schema.parse(answer)
      sources[key] = 'prompt'
    }
  }

  const stillMissing = (options.required ?? []).filter((key) => values[key] === undefined && definitionOf(key).default === undefined)
  if (stillMissing.length > 0) {
    const lines = stillMissing.map((key) => {
      const definition: SettingDefinition = settings[key]
      return `  --${definition.flag}${definition.example ? ` ${definition.example}` : ''}  (or ${envName(key)}): ${definition.description}`
    })
    throw new InvalidInputError(
      `Missing ${stillMissing.length === 1 ? 'a required setting' : `${stillMissing.length} required settings`}:\n${lines.join('\n')}`,
      'Pass them as flags, environment variables or in a --config file. Prompts appear only on an interactive terminal without --yes or --json.',
    )
  }

  for (const key of options.keys) {
    if (values[key] === undefined && definitionOf(key).default !== undefined) {
      values[key] = definitionOf(key).default
      sources[key] = 'default'
    }
  }

  return {values: values as Settings<K>, sources}
}

function definitionOf(key: SettingKey): SettingDefinition {
  return settings[key]
}

interface ConfigFile {
  file: string
  values: Map<string, {value: unknown; line: number}>
}

const FLAG_BY_KEY = new Map<string, string>()
for (const [key, definition] of Object.entries(settings)) {
  FLAG_BY_KEY.set(key, definition.flag)
  FLAG_BY_KEY.set(definition.flag, definition.flag)
}

/**
 * Reads a YAML config file of settings (keys as flag names, `misp-url`, or camelCase,
 * `mispUrl`). Syntax errors and unknown keys are reported with their line numbers.
 */
export function readConfigFile(file: string): ConfigFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message
    throw new InvalidInputError(`Cannot read the config file ${file}: ${reason}`, 'Check the path given with --config (or MISPWAZUH_CONFIG): it must name a YAML file.')
  }

  const lineCounter = new LineCounter()
  const document = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  if (document.errors.length > 0) {
    const lines = document.errors.map((error) => `  line ${lineCounter.linePos(error.pos[0]).line}: ${error.message.split('\n')[0]}`)
    throw new InvalidInputError(`The config file ${file} is not valid YAML:\n${lines.join('\n')}`, 'Fix the YAML and run again.')
  }

  const values = new Map<string, {value: unknown; line: number}>()
  if (document.contents === null) return {file, values}
  if (!isMap(document.contents)) {
    throw new InvalidInputError(`The config file ${file} must be a mapping of settings (key: value), line 1.`, 'Write one setting per line, for example "misp-url: https://misp.example.org".')
  }

  const problems: string[] = []
  for (const pair of document.contents.items) {
    const keyNode = pair.key as YamlNode
    const key = isScalar(keyNode) ? String(keyNode.value) : ''
    const line = keyNode?.range ? lineCounter.linePos(keyNode.range[0]).line : 0
    const flag = FLAG_BY_KEY.get(key)
    if (!flag) {
      problems.push(`  line ${line}: unknown setting "${key}"`)
      continue
    }

    const valueNode = pair.value as YamlNode | null
    values.set(flag, {value: valueNode && 'toJSON' in valueNode ? valueNode.toJSON() : null, line})
  }

  if (problems.length > 0) {
    throw new InvalidInputError(`The config file ${file} has unknown settings:\n${problems.join('\n')}`, `Known settings: ${[...new Set(FLAG_BY_KEY.values())].sort().join(', ')}.`)
  }

  return {file, values}
}

/** Builds the oclif flags for the given settings. Values are validated by the settings schema, not by oclif. */
export function settingFlags(keys: readonly SettingKey[]): Interfaces.FlagInput {
  const flags: Interfaces.FlagInput = {}
  for (const key of keys) {
    const definition: SettingDefinition = settings[key]
    const help = `${definition.description} [env: ${envName(key)}]${definition.default !== undefined && definition.kind !== 'boolean' ? ` [default: ${String(definition.default)}]` : ''}`
    flags[definition.flag] = definition.kind === 'boolean' ? Flags.boolean({description: help, allowNo: true}) : Flags.string({description: help, helpValue: definition.example ? definition.example : undefined})
  }

  return flags
}

async function inquirerPrompter(definition: SettingDefinition, validate: (value: string) => true | string): Promise<string> {
  const {input, password} = await import('@inquirer/prompts')
  const question = definition.prompt ?? definition.description
  const options = {message: question, validate, output: process.stderr}
  if (definition.secret) return password({message: question, validate, mask: '*'}, {output: process.stderr})
  return input({message: options.message, validate}, {output: process.stderr})
}
