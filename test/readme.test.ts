// The README's reference parts, checked against the code so that they cannot drift: the Errors
// table holds every code of ErrorCodes (and no other) with its exit status, the `serve` flag
// table every flag of the serve command once under one header, the `status` section every field
// of a StatusReport (the list below is typed by it: a new field fails the compile until it is
// listed here, and then this test until the README names it), and every HOTSWAP_* variable src/
// reads or sets is named somewhere.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import Serve from '../src/commands/serve.js'
import { type ErrorCode, ErrorCodes, exitCodeOf, HotswapError } from '../src/shared/errors.js'
import type { DatabaseStatus, PrimaryStatus, StatusReport, WorkerStatus } from '../src/shared/status-report.js'

// Compiled to dist/test/: the checkout is two folders up.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The lines of the section that starts at `heading` (a whole line), up to the next heading of its level or above. */
function section (heading: string): string[] {
  const lines = README.split('\n')
  const start = lines.indexOf(heading)
  assert.ok(start >= 0, `README has the heading ${heading}`)
  const level = /^#+/.exec(heading)?.[0].length ?? 0
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && (/^#+/.exec(l)?.[0].length ?? 0) <= level)
  return lines.slice(start + 1, end < 0 ? undefined : end)
}

/** The cells of a Markdown table row (`a \| b` is one cell). */
function cells (row: string): string[] {
  return row.replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim())
}

test('the Errors table: every ErrorCodes code once, no unknown code, each with its exit status', () => {
  const rows = section('## Errors').filter((l) => l.startsWith('|'))
  assert.deepEqual(cells(rows[0] ?? ''), ['code', 'exit', 'when'], 'the header is | code | exit | when |')
  const seen = new Map<string, string>()
  for (const row of rows.slice(2)) {
    const [codes = '', exit = ''] = cells(row)
    for (const [code] of codes.matchAll(/HOTSWAP_ERR_[A-Z_]+/g)) {
      assert.ok(Object.hasOwn(ErrorCodes, code), `${code} in the Errors table is not in ErrorCodes`)
      assert.ok(!seen.has(code), `${code} is in the Errors table twice`)
      seen.set(code, exit)
    }
  }
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    assert.ok(seen.has(code), `${code} (src/shared/errors.ts) is missing from the README's Errors table`)
    assert.equal(seen.get(code), String(exitCodeOf(new HotswapError(code))), `the exit status of ${code}`)
  }
})

test('the serve flag table: one header, every flag of `hotswap serve` exactly once, no unknown flag', () => {
  const body = section('### `hotswap serve APP`')
  const rows = body.filter((l) => l.startsWith('|'))
  assert.equal(rows.filter((l) => /^\|\s*flag\s*\|/.test(l)).length, 1, 'the table header appears once')
  const documented = rows.flatMap((row) => [...(cells(row)[0] ?? '').matchAll(/`--([a-z][a-z-]*)/g)].map((m) => m[1] as string))
  const flags = Object.keys(Serve.flags)
  for (const flag of flags) {
    assert.equal(documented.filter((f) => f === flag).length, 1, `--${flag} appears in the serve flag table exactly once`)
  }
  for (const flag of documented) assert.ok(flags.includes(flag), `--${flag} in the serve flag table is not a flag of serve`)
  for (const [name, flag] of Object.entries(Serve.flags)) {
    if (flag.char !== undefined) assert.ok(rows.some((r) => (cells(r)[0] ?? '').includes(`\`--${name}`) && (cells(r)[0] ?? '').includes(`\`-${flag.char}\``)), `-${flag.char} is listed with --${name}`)
  }
})

// Every field of a status report, by its path in the JSON. Typed by the report: a field added to
// (or removed from) StatusReport fails the compile here.
const PRIMARY: Record<keyof Required<PrimaryStatus>, true> = { pid: true, uptimeMs: true, socket: true, version: true, rss: true, app: true, uid: true, mountNamespace: true, root: true, workersWanted: true, workersReady: true, degraded: true }
const PRIMARY_APP: Record<keyof PrimaryStatus['app'], true> = { path: true, resolved: true }
const WORKER: Record<keyof Required<WorkerStatus>, true> = { id: true, pid: true, state: true, app: true, uptimeMs: true, restarts: true, rss: true, inFlight: true, served: true, lastError: true, givenUpAt: true }
const DATABASE: Record<keyof Required<DatabaseStatus>, true> = { name: true, path: true, size: true, journalMode: true, swaps: true, lastSwapAt: true, lastPauseMs: true, generation: true, kept: true, staged: true }
const REPORT: Record<keyof StatusReport, Record<string, true>> = { primary: PRIMARY, workers: WORKER, databases: DATABASE }

test('the status section names every field of `status --json`', () => {
  const text = section('### `hotswap status [--json]` and `hotswap version`').join('\n')
  const paths: string[] = []
  for (const [part, fields] of Object.entries(REPORT)) {
    const prefix = part === 'primary' ? 'primary.' : `${part}[].`
    for (const field of Object.keys(fields)) {
      if (part === 'primary' && field === 'app') paths.push(...Object.keys(PRIMARY_APP).map((f) => `primary.app.${f}`))
      else paths.push(prefix + field)
    }
  }
  for (const p of paths) assert.ok(text.includes(`\`${p}\``), `the README's status section names \`${p}\``)
})

test('every HOTSWAP_* variable that src/ reads or sets is named in the README', () => {
  const names = new Set<string>()
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts')) for (const [v] of readFileSync(p, 'utf8').matchAll(/\bHOTSWAP_[A-Z]+(?:_[A-Z]+)*\b(?!_)/g)) names.add(v)
    }
  }
  walk(join(ROOT, 'src'))
  for (const v of names) {
    if (v.startsWith('HOTSWAP_ERR_')) continue
    assert.ok(new RegExp(`\\b${v}\\b`).test(README), `${v} (used in src/) is named in the README`)
  }
})
