// Every usage error of every command, on the fast cp path and through oclif, its plugins'
// commands (autocomplete, help) included: one "ERROR [HOTSWAP_ERR_USAGE] ..." line on stderr (detail
// lines indented below it), nothing on stdout, exit 2, and no server started or reached. Before,
// `serve --workers abc` exited 1 (HOTSWAP_ERR_CONFIG), and the plugins' and oclif's own errors
// ("›   Error: command status:extra not found") carried no code.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, seed, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let db: string
let sock: string

before(() => {
  t = tempDir()
  db = join(t.dir, 'live.sqlite3')
  seed(db, { label: 'v0' })
  sock = join(t.dir, 's', 'h.sock')
})
after(() => t?.cleanup())

const serve = (...extra: string[]): string[] => ['serve', fixture('app.mjs'), '--workers', '1', '--db', db, '--socket', sock, ...extra]

test('a table of usage errors: each one coded line, exit 2, nothing started', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['serve', fixture('app.mjs'), '--db', db, '--socket', sock, '--workers', 'abc'], /--workers must be a positive integer or "max" \(got "abc"\)/],
    [['serve', fixture('app.mjs'), '--db', db, '--socket', sock, '-w', '0'], /--workers must be a positive integer/],
    [serve('--port', 'abc'), /Parsing --port/],
    [serve('--log-format', 'xml'), /--log-format=xml to be one of: json, pretty/],
    [serve('--bogus'), /Nonexistent flag: --bogus/],
    [serve('extra.mjs'), /Unexpected argument: extra\.mjs/],
    // cp on the fast path (plain arguments) and through oclif (what the fast path declines)
    [['cp', '-', '-', '--socket', sock], /SRC and DST cannot both be -/],
    [['cp', '--socket', sock, '--', '-', '-'], /SRC and DST cannot both be -/],
    [['cp'], /Missing 2 required args/],
    [['cp', 'live.sqlite3'], /Missing 1 required arg/],
    [['cp', 'a', 'b', '--bogus'], /Nonexistent flag: --bogus/],
    [['cp', 'a', 'b', '--socket'], /Flag --socket expects a value/],
    [['cp', 'a', 'b', '--force=yes'], /Unexpected argument/],
    [['status', 'extra'], /unexpected argument "extra" to hotswap status \(see hotswap status --help\)/],
    [['status', '--bogus'], /Nonexistent flag: --bogus/],
    [['reload', '--parallel', '0'], /Parsing --parallel/],
    [['reload', 'extra'], /unexpected argument "extra" to hotswap reload/],
    [['version', '--bogus'], /Nonexistent flag: --bogus/],
    [['autocomplete', 'fish'], /Expected fish to be one of: zsh, bash, powershell/],
    [['help', 'bogus'], /Command bogus not found/],
    [['--bogus'], /unknown flag "--bogus" \(hotswap --help lists the commands\)/],
  ]
  const env = { HOTSWAP_SOCKET: sock, XDG_CACHE_HOME: join(t.dir, 'cache') }
  // Four at a time: the machine has two cores.
  const results: Array<Awaited<ReturnType<typeof cli>>> = []
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < cases.length) {
      const i = next++
      results[i] = await cli((cases[i] as [string[], RegExp])[0], { cwd: t.dir, env, timeoutMs: 15_000 })
    }
  }))
  const wrong: string[] = []
  results.forEach((r, i) => {
    const [args, message] = cases[i] as [string[], RegExp]
    const lines = r.stderr.split('\n').filter((l) => l !== '')
    const ok = r.code === 2 && r.stdout.length === 0 && lines.length >= 1 &&
      /^ERROR \[HOTSWAP_ERR_USAGE\] /.test(lines[0] as string) && message.test(lines[0] as string) &&
      lines.slice(1).every((l) => l.startsWith('  '))
    if (!ok) wrong.push(`hotswap ${args.map((a) => a.replace(t.dir, '.')).join(' ')} → exit ${String(r.code)}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}, stdout ${r.stdout.length} bytes`)
  })
  assert.deepEqual(wrong, [])
  assert.equal(existsSync(sock), false, 'no server started')
})
