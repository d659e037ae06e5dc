// A word with an unpaired UTF-16 surrogate (JSON "\ud800", which any client can send) names two
// different files: Node's fs writes it as U+FFFD (EF BF BD), SQLite as the surrogate's own bytes
// (ED A0 80). A pull to "a\ud800b" created its temp file through fs, SQLite's VACUUM INTO wrote
// the snapshot into another name, and the empty temp file was renamed into place: "OK", a 0-byte
// backup, and a whole copy of the database left beside it under a hidden temp name (found by the
// 100,000-case frame fuzz, seed 20261201). Such a word is now refused before anything runs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { exchange, fixture, frame, gemStream, labelOf, seed, type Served, serveLiveForFile, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 1, app: fixture('app.mjs'), prepare: (s) => {
    ({ t, live } = s)
    seed(join(t.dir, 'other.sqlite3'), { label: 'v1' })
  } }, (s) => { ({ t, served, live } = s) })

test('a pull or push naming a path with an unpaired surrogate is a usage error, and writes nothing', async () => {
  const names = readdirSync(t.dir).sort()
  const cases: Array<{ what: string, bytes: Buffer }> = [
    { what: 'gem pull to a\\ud800b', bytes: gemStream(['cp', 'live.sqlite3', 'a\ud800b']) },
    { what: 'gem pull to \\udc00', bytes: gemStream(['cp', 'live', '\udc00']) },
    { what: 'gem push from other\\ud800.sqlite3', bytes: gemStream(['cp', 'other\ud800.sqlite3', 'live.sqlite3']) },
    { what: 'our pull with a cwd holding \\ud800', bytes: frame(3, JSON.stringify({ args: ['cp', join(t.dir, 'live.sqlite3'), 'out.sqlite3'], tty: false, protocol: 1, cwd: `${t.dir}/\ud800` })) },
  ]
  for (const c of cases) {
    const r = await exchange(served.socket, c.bytes, { timeoutMs: 15_000 })
    assert.deepEqual([r.control?.exit, r.control?.code], [2, 'HOTSWAP_ERR_USAGE'], `${c.what}: ${r.stderr}`)
    assert.match(r.stderr, /not valid Unicode/, c.what)
    assert.equal(r.stdout.length, 0)
  }
  assert.deepEqual(readdirSync(t.dir).sort(), names, 'no file was made or left in the directory')
  assert.equal(labelOf(live), 'v0', 'the live database is untouched')
  // A name with a surrogate pair (an emoji) is well-formed and still pulled whole.
  const ok = await exchange(served.socket, gemStream(['cp', 'live.sqlite3', 'backup-\u{1F600}.sqlite3']), { timeoutMs: 15_000 })
  assert.equal(ok.control?.exit, 0, ok.stderr)
  assert.equal(labelOf(join(t.dir, 'backup-\u{1F600}.sqlite3')), 'v0')
  assert.equal(served.child.exitCode, null, 'the primary is running')
})
