import {renderTemplate} from '../templates.js'

/**
 * Handlebars helpers for Wazuh files. Wazuh's reader decodes no entities, so HTML escaping
 * would put `&amp;` into what Wazuh matches. There is no escape for a raw `<` in element text
 * either, so a value that contains markup characters is rejected instead of escaped.
 */
const UNSAFE = /[<>"\u0000-\u0008\u000A-\u001F\u007F]/

/** Returns a text value unchanged after checking that Wazuh can read it raw inside an element or attribute. */
export function wazuhText(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new TypeError(`Expected a string for a Wazuh template value, got ${value === undefined ? 'undefined' : typeof value}`)
  }

  const text = String(value)
  const unsafe = UNSAFE.exec(text)
  if (unsafe) {
    throw new TypeError(`The value "${text}" contains ${JSON.stringify(unsafe[0])}, which Wazuh cannot read inside an element or attribute`)
  }

  return text
}

/** Returns a non-negative integer as text; anything else raises an error. */
export function wazuhNumber(value: unknown): string {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`Expected a non-negative integer for a Wazuh template value, got ${String(value)}`)
  }

  return String(value)
}

/** Renders a template from `templates/wazuh/` with the `wazuh` and `number` helpers. */
export function renderWazuhTemplate(name: string, data: object): string {
  return renderTemplate(`wazuh/${name}`, data, {
    helpers: {
      // Handlebars passes its options object as the last argument.
      wazuh: (value: unknown) => wazuhText(value),
      number: (value: unknown) => wazuhNumber(value),
    },
  })
}
