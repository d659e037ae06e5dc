// The gem's own integration spec (rubymonolith/hotswap,
// spec/integration_spec.rb, all 8 examples) played against a real `hotswap serve`, through a
// client that frames exactly as the gem's Thor::Socket::Client does (lib/thor/socket.rb): one
// control frame {"args", "tty": false}; when an argument is "-", its stdin in 16 KiB frames and
// an empty frame (an empty stdin sends just the empty frame); then frames until the control one.
// Each example starts, as the spec's `before` does, from a live database holding alpha and bravo.
// Before the fix, 3 of 8 failed: no "Swapping" on a push, a pull into a file said OK on stdout,
// and a schema mismatch read "ERROR [HOTSWAP_ERR_SCHEMA_MISMATCH] …".

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { VERSION } from '../../src/shared/version.js'
import { exchange, fixture, frame, gemStream, report, request, type Served, specDb, specRows, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let dbPath: string
let original: Buffer

/** The spec's run_client: the gem client's framing, stdout and stderr as it collects them. */
async function runClient (args: string[], stdinData?: Buffer | string): Promise<{ stdout: Buffer, stderr: string }> {
  const stdin = args.includes('-') ? Buffer.from(stdinData ?? '') : undefined
  const r = await exchange(served.socket, gemStream(args, stdin, 16 * 1024), { timeoutMs: 30_000 })
  assert.equal(r.timedOut, false, `the server answered ${args.join(' ')}`)
  assert.notEqual(r.control, null, 'a control frame ends the reply')
  assert.deepEqual(r.oddities, [])
  return { stdout: r.stdout, stderr: r.stderr }
}

before(async () => {
  t = tempDir()
  dbPath = specDb(join(t.dir, 'test.sqlite3'), ['alpha', 'bravo'])
  original = readFileSync(dbPath)
  served = await startServe({ dir: t.dir, dbs: [dbPath], workers: 2, app: fixture('gem-app.mjs') })
})

after(async () => {
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
})

let examples = 0
/** The spec's `before`: the live database holds alpha and bravo again. */
async function example (name: string, body: () => Promise<void>): Promise<void> {
  test(`gem spec: ${name}`, async () => {
    if (specRows(dbPath).join(',') !== 'alpha,bravo') {
      const r = await runClient(['cp', '-', dbPath], original)
      assert.equal(r.stdout.toString().trim(), 'OK', r.stderr)
    }
    assert.deepEqual(specRows(dbPath), ['alpha', 'bravo'])
    await body()
    examples++
  })
}

// describe "cp round-trip"
void example('cp round-trip: pushes a new database and pulls it back', async () => {
  let result = await runClient(['cp', dbPath, '-'])
  assert.ok(result.stdout.length > 0)
  const pulledPath = join(t.dir, 'pulled_original.sqlite3')
  writeFileSync(pulledPath, result.stdout)
  assert.deepEqual(specRows(pulledPath), ['alpha', 'bravo'])

  const newBytes = readFileSync(specDb(join(t.dir, 'replacement.sqlite3'), ['charlie', 'delta']))
  result = await runClient(['cp', '-', dbPath], newBytes)
  assert.equal(result.stdout.toString().trim(), 'OK')
  assert.ok(result.stderr.includes('Swapping'), result.stderr)
  assert.equal(result.stderr, 'Swapping database...\n', 'the gem\'s words, and nothing else')

  result = await runClient(['cp', dbPath, '-'])
  const pulledPath2 = join(t.dir, 'pulled_swapped.sqlite3')
  writeFileSync(pulledPath2, result.stdout)
  assert.deepEqual(specRows(pulledPath2), ['charlie', 'delta'])
})

// describe "cp with file paths"
void example('cp with file paths: pushes from a file path', async () => {
  const newDbPath = specDb(join(t.dir, 'replacement-file.sqlite3'), ['from-file'])
  const result = await runClient(['cp', newDbPath, dbPath])
  assert.equal(result.stdout.toString().trim(), 'OK')
  assert.deepEqual(specRows(dbPath), ['from-file'])
})

void example('cp with file paths: pulls to a file path', async () => {
  const pulledPath = join(t.dir, 'pulled.sqlite3')
  const result = await runClient(['cp', dbPath, pulledPath])
  assert.ok(result.stderr.includes('OK'), result.stderr)
  assert.equal(result.stderr, 'OK\n')
  assert.equal(result.stdout.length, 0, 'the gem writes OK on stderr, nothing on stdout')
  assert.deepEqual(specRows(pulledPath), ['alpha', 'bravo'])
})

// describe "cp rejects schema mismatch"
void example('cp rejects schema mismatch: refuses a database with different schema and leaves the DB intact', async () => {
  const mismatched = specDb(join(t.dir, 'mismatched.sqlite3'), ['nope'], 'other_table', 'value')
  const result = await runClient(['cp', '-', dbPath], readFileSync(mismatched))
  assert.ok(result.stderr.includes('ERROR: schema mismatch'), result.stderr)
  // As the gem prints it: the line, then "- " for what the live one has, "+ " for the new one's.
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines[0], 'ERROR: schema mismatch')
  assert.ok(lines.slice(1).some((l) => l.startsWith('- ') && l.includes('items')), result.stderr)
  assert.ok(lines.slice(1).some((l) => l.startsWith('+ ') && l.includes('other_table')), result.stderr)
  assert.ok(lines.slice(1).every((l) => l.startsWith('- ') || l.startsWith('+ ')), result.stderr)
  assert.equal(result.stdout.length, 0)
  assert.deepEqual(specRows(dbPath), ['alpha', 'bravo'])
})

// describe "cp rejects bad data"
void example('cp rejects bad data: refuses a corrupt file and leaves the DB intact', async () => {
  const result = await runClient(['cp', '-', dbPath], 'not a database at all')
  assert.ok(result.stderr.includes('ERROR'), result.stderr)
  assert.match(result.stderr, /^ERROR: /)
  assert.deepEqual(specRows(dbPath), ['alpha', 'bravo'])
})

// describe "version"
void example('version: returns the version', async () => {
  const result = await runClient(['version'])
  assert.equal(result.stdout.toString().trim(), `hotswap ${VERSION}`)
})

// describe "concurrent cp and rack requests"
void example('concurrent cp and rack requests: serializes requests through the swap lock', async () => {
  const items = async (): Promise<string> => {
    const res = await request(served.port, '/items', { keepAlive: false })
    assert.equal(res.status, 200)
    return res.body
  }
  assert.equal(await items(), 'alpha,bravo')
  const newDb = specDb(join(t.dir, 'concurrent.sqlite3'), ['echo'])
  const result = await runClient(['cp', '-', dbPath], readFileSync(newDb))
  assert.equal(result.stdout.toString().trim(), 'OK')
  // Every worker serves the new file once cp has answered.
  for (let i = 0; i < 4; i++) assert.equal(await items(), 'echo')
})

// describe "multiple sequential pushes"
void example('multiple sequential pushes: handles several swaps in a row', async () => {
  for (let i = 0; i < 3; i++) {
    const newDbPath = specDb(join(t.dir, `seq_${i}.sqlite3`), [`iteration_${i}`])
    const result = await runClient(['cp', newDbPath, dbPath])
    assert.equal(result.stdout.toString().trim(), 'OK')
    assert.deepEqual(specRows(dbPath), [`iteration_${i}`])
  }
})

test('the gem\'s other error words: both sides managed, neither managed', async (tt) => {
  const both = await runClient(['cp', dbPath, 'database'])
  assert.equal(both.stderr, "ERROR: source and destination can't both be managed databases\n")
  const neither = await runClient(['cp', join(t.dir, 'a.sqlite3'), join(t.dir, 'b.sqlite3')])
  assert.match(neither.stderr, /^ERROR: neither path matches a managed database \(.*test\.sqlite3\)\n$/)
  // Our own client (protocol 1) keeps the coded format.
  const ours = await exchange(served.socket, frame(3, JSON.stringify({ args: ['cp', dbPath, 'database'], tty: false, protocol: 1 })))
  assert.match(ours.stderr, /^ERROR \[HOTSWAP_ERR_BOTH_MANAGED\] /)
  assert.equal(examples, 8, 'all 8 examples of the gem\'s spec ran')
  report(tt, 'gem integration spec', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: 8 })
})
