// Runs the process tests that tally a family of faults (those in test/process/ that call the
// support module's report(), after `npm run build`) and sums the `reliability {...}` diagnostics
// they print into the table the README's "Reliability" section shows.
// Usage: node scripts/reliability.mjs   (HOTSWAP_FUZZ_CASES raises the live frame fuzz run)
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const processTests = join(root, 'dist', 'test', 'process')
const files = readdirSync(processTests).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(processTests, f))
  .filter((f) => /\breport\(/.test(readFileSync(f, 'utf8')))
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=tap', ...files], {
  cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
})
const out = run.stdout + run.stderr
const rows = new Map()
for (const m of out.matchAll(/^\s*# reliability (\{.*\})$/gm)) {
  const r = JSON.parse(m[1])
  const row = rows.get(r.kind) ?? { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: 0, requestsOk: 0, requestsFailed: 0 }
  for (const k of Object.keys(row)) row[k] += r[k] ?? 0
  rows.set(r.kind, row)
}
const summary = out.match(/^# (tests|pass|fail|duration_ms) .*$/gm) ?? []
console.log('| what | faults injected | survived | data lost | temp files left | HTTP requests ok / failed | fuzz cases |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
const total = { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: 0, requestsOk: 0, requestsFailed: 0 }
const blank = (n, show) => show ? String(n) : ''
for (const [kind, r] of rows) {
  for (const k of Object.keys(total)) total[k] += r[k]
  const f = r.faults > 0
  console.log(`| ${kind} | ${blank(r.faults, f)} | ${blank(r.survived, f)} | ${blank(r.lost, f)} | ${blank(r.tempLeft, f)} | ${f ? `${r.requestsOk} / ${r.requestsFailed}` : ''} | ${blank(r.fuzzCases, r.fuzzCases > 0)} |`)
}
console.log(`| **total** | ${total.faults} | ${total.survived} | ${total.lost} | ${total.tempLeft} | ${total.requestsOk} / ${total.requestsFailed} | ${total.fuzzCases} |`)
console.log(summary.join('\n'))
process.exit(run.status ?? 1)
