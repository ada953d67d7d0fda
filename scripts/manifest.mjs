// Writes oclif.manifest.json, so oclif reads command metadata from one file instead of
// importing every command module at start-up.
import {renameSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true})
await plugin.load()
// Written beside and renamed, so a CLI starting meanwhile never reads half a file.
const temporary = join(root, `.oclif.manifest.json.${process.pid}`)
writeFileSync(temporary, `${JSON.stringify(plugin.manifest, null, 2)}\n`)
renameSync(temporary, join(root, 'oclif.manifest.json'))
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
