// Node 20's test runner does not expand globs, so list the compiled test files here.
// Usage: node scripts/run-tests.mjs [substring filter ...]
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const testRoot = join(root, 'dist', 'test')

function walk (dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'fixtures') continue
    if (statSync(p).isDirectory()) out.push(...walk(p))
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const filters = process.argv.slice(2)
const files = walk(testRoot)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(testRoot, f).includes(s)))
  .sort()
// The longest files first (3 sshd hosts each, or hundreds of crashes and random runs), so that
// the two lanes of the runner end together instead of one finishing a fleet file alone.
const LONG = ['process/fleet-', 'process/generations-property', 'process/commit-crash', 'process/primary-kill', 'process/fuzz-']
const rank = (f) => { const i = LONG.findIndex((p) => relative(testRoot, f).startsWith(p)); return i === -1 ? LONG.length : i }
files.sort((a, b) => rank(a) - rank(b))
if (files.length === 0) {
  process.stderr.write('run-tests: no test files matched\n')
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  cwd: root,
})
process.exit(result.status ?? 1)
