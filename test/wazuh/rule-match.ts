/**
 * A small evaluator for the rule conditions mispwazuh writes, used to check that generated
 * rules chain as intended on sample events. OS_Regex patterns go through the product's own
 * translation; PCRE2 patterns work when JavaScript reads them the same way once a leading `(?i)`
 * becomes the `i` flag.
 */
import {osregexToRegExp} from '../../src/wazuh/osregex.js'
import type {RuleDefinition} from '../../src/wazuh/rules.js'

export function pcre2ToJs(pattern: string): RegExp {
  const insensitive = pattern.startsWith('(?i)')
  return new RegExp(insensitive ? pattern.slice(4) : pattern, insensitive ? 'i' : '')
}

/** Returns a decoded field of a JSON event by its dotted path, as Wazuh's json decoder names it. */
export function fieldOf(event: unknown, name: string): string | undefined {
  let value: unknown = event
  for (const key of name.split('.')) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string, unknown>)[key]
  }

  if (value === undefined || value === null) return undefined
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

/** Tells whether every `<field>` condition of a rule matches the event. */
export function fieldsMatch(rule: RuleDefinition, event: unknown): boolean {
  return rule.fields.every((field) => {
    const value = fieldOf(event, field.name)
    if (value === undefined) return false
    const regex = field.type === 'pcre2' ? pcre2ToJs(field.value) : osregexToRegExp(field.value)
    return regex.test(value)
  })
}

/**
 * Returns the ID of the deepest rule that matches, starting from the root rules given and
 * descending through children (`if_sid`), as analysisd does: the first matching child wins.
 */
export function deepestMatch(rules: readonly RuleDefinition[], roots: readonly RuleDefinition[], event: unknown): number | undefined {
  for (const root of roots) {
    if (!fieldsMatch(root, event)) continue
    const children = rules.filter((rule) => rule.ifSid?.split(/[\s,]+/).includes(String(root.id)))
    return deepestMatch(rules, children, event) ?? root.id
  }

  return undefined
}
