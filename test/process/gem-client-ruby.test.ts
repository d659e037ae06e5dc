// The gem's real client: its exe/hotswap script (test/fixtures/
// gem-client.rb, unchanged) run by ruby against `hotswap serve`, through the examples of the
// gem's integration spec (spec/integration_spec.rb) as a shell user types them. Needs the
// Debian package `ruby` (the script uses only Ruby's standard library). gem-spec.test.ts plays
// the same examples through the client's framing written in JS.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { VERSION } from '../../src/shared/version.js'
import { type CliResult, fixture, request, runProcess, type Served, specDb, specRows, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let dbPath: string

/** `hotswap ARGS` with the gem's client: HOTSWAP_SOCKET set, `input` on its stdin. */
async function gem (args: string[], input?: Buffer | string): Promise<CliResult> {
  return await runProcess('ruby', [fixture('gem-client.rb'), ...args], { cwd: t.dir, env: { HOTSWAP_SOCKET: served.socket }, input: input ?? '', timeoutMs: 30_000 })
}

before(async () => {
  const ruby = spawnSync('ruby', ['--version'], { encoding: 'utf8' })
  assert.equal(ruby.status, 0, `this test runs the gem's client and needs ruby (Debian package "ruby"): ${ruby.error?.message ?? ruby.stderr}`)
  t = tempDir()
  dbPath = specDb(join(t.dir, 'test.sqlite3'), ['alpha', 'bravo'])
  served = await startServe({ dir: t.dir, dbs: [dbPath], workers: 2, app: fixture('gem-app.mjs') })
})

after(async () => {
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
})

test('the gem\'s own client: the integration spec\'s examples, from a shell', async () => {
  // cp round-trip: pull to stdout, push from stdin, pull again.
  let r = await gem(['cp', dbPath, '-'])
  assert.equal(r.code, 0, r.stderr)
  writeFileSync(join(t.dir, 'pulled_original.sqlite3'), r.stdout)
  assert.deepEqual(specRows(join(t.dir, 'pulled_original.sqlite3')), ['alpha', 'bravo'])
  r = await gem(['cp', '-', dbPath], readFileSync(specDb(join(t.dir, 'replacement.sqlite3'), ['charlie', 'delta'])))
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString().trim(), 'OK')
  assert.equal(r.stderr, 'Swapping database...\n')
  r = await gem(['cp', dbPath, '-'])
  writeFileSync(join(t.dir, 'pulled_swapped.sqlite3'), r.stdout)
  assert.deepEqual(specRows(join(t.dir, 'pulled_swapped.sqlite3')), ['charlie', 'delta'])

  // cp with file paths: push from a path, pull to a path (OK on stderr).
  r = await gem(['cp', specDb(join(t.dir, 'from-file.sqlite3'), ['from-file']), dbPath])
  assert.equal(r.stdout.toString().trim(), 'OK', r.stderr)
  assert.deepEqual(specRows(dbPath), ['from-file'])
  r = await gem(['cp', dbPath, join(t.dir, 'pulled.sqlite3')])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, 'OK\n')
  assert.equal(r.stdout.length, 0)
  assert.deepEqual(specRows(join(t.dir, 'pulled.sqlite3')), ['from-file'])

  // Refusals leave the database intact; the client exits with the server's non-zero exit.
  r = await gem(['cp', '-', dbPath], readFileSync(specDb(join(t.dir, 'mismatched.sqlite3'), ['nope'], 'other_table', 'value')))
  assert.match(r.stderr, /^ERROR: schema mismatch\n(?:[-+] [^\n]*\n)+$/)
  assert.equal(r.code, 1)
  r = await gem(['cp', '-', dbPath], 'not a database at all')
  assert.match(r.stderr, /^ERROR: /)
  assert.equal(r.code, 1)
  assert.deepEqual(specRows(dbPath), ['from-file'])

  // version
  r = await gem(['version'])
  assert.equal(r.stdout.toString().trim(), `hotswap ${VERSION}`)

  // concurrent cp and requests: every worker serves the new file once cp has answered.
  r = await gem(['cp', '-', dbPath], readFileSync(specDb(join(t.dir, 'concurrent.sqlite3'), ['echo'])))
  assert.equal(r.stdout.toString().trim(), 'OK', r.stderr)
  for (let i = 0; i < 4; i++) assert.equal((await request(served.port, '/items', { keepAlive: false })).body, 'echo')

  // multiple sequential pushes
  for (let i = 0; i < 3; i++) {
    r = await gem(['cp', specDb(join(t.dir, `seq_${i}.sqlite3`), [`iteration_${i}`]), dbPath])
    assert.equal(r.stdout.toString().trim(), 'OK', r.stderr)
    assert.deepEqual(specRows(dbPath), [`iteration_${i}`])
  }
})
