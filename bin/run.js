#!/usr/bin/env node
// `--version` is handled here, before oclif and its dependency tree load, because scripts call
// it often and oclif's start-up alone takes about twice as long as Node's. The line has the
// same form oclif prints: name/version platform-arch node-version.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const {readFileSync} = await import('node:fs')
  const {name, version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
