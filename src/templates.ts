import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import Handlebars from 'handlebars'

/**
 * Returns the package root: the folder that holds `templates/`. This module sits at
 * `src/templates.ts` when run with tsx and at `dist/templates.js` when built, so the root is
 * the parent of the module's folder in both cases.
 */
export function packageRoot(moduleUrl: string = import.meta.url): string {
  return path.resolve(path.dirname(fileURLToPath(moduleUrl)), '..')
}

/** Returns the absolute path of a file under `templates/`, e.g. `templatePath('wazuh', 'integration.xml.hbs')`. */
export function templatePath(...segments: string[]): string {
  return path.join(packageRoot(), 'templates', ...segments)
}

/** Reads a file under `templates/` as UTF-8 text. */
export function readTemplate(...segments: string[]): string {
  return readFileSync(templatePath(...segments), 'utf8')
}

export type TemplateHelper = (...args: unknown[]) => unknown

export interface TemplateOptions {
  /**
   * Helpers the template may call. Templates are compiled with HTML escaping off, so every
   * target format brings its own helper that checks or escapes values for that format.
   */
  helpers?: Record<string, TemplateHelper>
}

const compiled = new Map<string, HandlebarsTemplateDelegate>()

/**
 * Renders a Handlebars template from `templates/` with HTML escaping off and strict lookups:
 * a name the data does not define raises an error instead of rendering as empty text.
 * Compiled templates are cached per path and helper set.
 */
export function renderTemplate(relativePath: string, data: object, options: TemplateOptions = {}): string {
  const helpers = options.helpers ?? {}
  const key = `${relativePath}\u0000${Object.keys(helpers).sort().join(',')}`
  let template = compiled.get(key)
  if (!template) {
    const environment = Handlebars.create()
    for (const [name, helper] of Object.entries(helpers)) environment.registerHelper(name, helper as Handlebars.HelperDelegate)
    const source = readTemplate(...relativePath.split('/'))
    template = environment.compile(source, {noEscape: true, strict: true})
    compiled.set(key, template)
  }

  return template(data)
}
