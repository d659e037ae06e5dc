// Every way a push can be wrong: each one is refused with its own error code, and leaves the
// live database, what the app serves, and the folder exactly as they were.
//
// One `hotswap serve` (2 workers, two managed databases) for the whole file. The cases run in
// order; the last ones (the --skip-* flags) change the live data on purpose.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, type CliResult, integrity, labelOf, leftovers, request, seed, seedAll, type Served, serveForFile, sleep, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let cache: string
/** The label the live database holds now; the bad pushes must never change it. */
let current = 'v1'

serveForFile(async (t) => {
  ;({ live, cache } = seedAll(t.dir, { live: 'v1', cache: 'cache-v1' }))
  return await startServe({ dir: t.dir, dbs: [live, cache], workers: 2 })
}, (s) => { ({ t, served } = s) })

async function cp (args: string[], input?: Buffer): Promise<CliResult> {
  return await cli(['cp', ...args, '--socket', served.socket], { cwd: t.dir, ...(input === undefined ? {} : { input }) })
}

/** A well-formed candidate with the live schema and enough rows to span many pages. */
function candidate (name: string, label: string, rows = 2000): { path: string, bytes: Buffer, pageSize: number } {
  const path = join(t.dir, name)
  seed(path, { label, rows })
  const bytes = readFileSync(path)
  const rawPageSize = bytes.readUInt16BE(16)
  return { path, bytes, pageSize: rawPageSize === 1 ? 65536 : rawPageSize }
}

/** Writes bytes to a new file in the test folder and returns its path. */
function file (name: string, bytes: Buffer): string {
  const path = join(t.dir, name)
  writeFileSync(path, bytes)
  return path
}

/** The push failed with `code` on the first stderr line and changed nothing anywhere. */
async function assertRefused (res: CliResult, code: string, exit = 1): Promise<void> {
  const first = res.stderr.split('\n')[0] ?? ''
  assert.match(first, new RegExp(`^ERROR \\[${code}\\] `), `first stderr line names ${code}; stderr:\n${res.stderr}`)
  assert.equal(res.code, exit, `exit code ${exit}; stderr:\n${res.stderr}`)
  assert.equal(res.stdout.toString(), '', 'nothing on stdout (no OK)')
  // Fresh connections, enough of them to reach both workers.
  for (let i = 0; i < 4; i++) {
    const res = await request(served.port, '/label', { keepAlive: false })
    assert.equal(res.status, 200)
    assert.equal(res.json().label, current, 'the app still serves the old data')
  }
  assert.equal(labelOf(live), current, 'the live file still holds the old data')
  assert.deepEqual(integrity(live), ['ok'], 'the live file passes integrity_check')
  assert.deepEqual(leftovers(t.dir), [], 'no .hotswap- temp file left beside the live database')
}

/** After a successful swap the old file's link is unlinked off the pause window; wait for it. */
/** The push succeeded: OK, every worker and the live file hold `label`, which is now the current data. */
async function assertSwapped (res: CliResult, label: string): Promise<void> {
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  current = label
  for (let i = 0; i < 4; i++) assert.equal((await request(served.port, '/label', { keepAlive: false })).json().label, label)
  assert.equal(labelOf(live), label)
  assert.deepEqual(integrity(live), ['ok'])
}

async function assertNoLeftoversEventually (): Promise<void> {
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [])
}

test('random bytes are refused as not a SQLite database', async () => {
  const path = file('random.bin', randomBytes(8192))
  await assertRefused(await cp([path, 'live.sqlite3']), 'HOTSWAP_ERR_NOT_SQLITE')
})

test('empty input is refused, from stdin and from an empty file', async () => {
  await assertRefused(await cp(['-', 'live'], Buffer.alloc(0)), 'HOTSWAP_ERR_EMPTY')
  const path = file('empty.sqlite3', Buffer.alloc(0))
  await assertRefused(await cp([path, live]), 'HOTSWAP_ERR_EMPTY')
})

test('a file truncated by whole pages is refused', async () => {
  const c = candidate('trunc-src.sqlite3', 'never')
  assert.ok(c.bytes.length >= 4 * c.pageSize, 'the candidate spans several pages')
  const path = file('trunc-pages.sqlite3', c.bytes.subarray(0, c.bytes.length - 2 * c.pageSize))
  const res = await cp([path, 'live.sqlite3'])
  await assertRefused(res, 'HOTSWAP_ERR_TRUNCATED')
  assert.match(res.stderr, /header says \d+ pages/)
  // Over stdin too, since that is how an interrupted ssh pipe would arrive.
  await assertRefused(await cp(['-', 'live'], c.bytes.subarray(0, c.pageSize)), 'HOTSWAP_ERR_TRUNCATED')
})

test('a file cut inside its last page is refused', async () => {
  const c = candidate('cut-src.sqlite3', 'never')
  const path = file('cut.sqlite3', c.bytes.subarray(0, c.bytes.length - 100))
  await assertRefused(await cp([path, 'live.sqlite3']), 'HOTSWAP_ERR_TRUNCATED')
  // A cut inside the header itself is not even a database.
  await assertRefused(await cp(['-', 'live'], c.bytes.subarray(0, 50)), 'HOTSWAP_ERR_NOT_SQLITE')
})

test('a file with bytes appended is refused', async () => {
  const c = candidate('append-src.sqlite3', 'never')
  const path = file('appended.sqlite3', Buffer.concat([c.bytes, Buffer.from('trailing garbage')]))
  await assertRefused(await cp([path, 'live.sqlite3']), 'HOTSWAP_ERR_TRUNCATED')
  // A whole extra page of zeros as well.
  await assertRefused(await cp(['-', 'live'], Buffer.concat([c.bytes, Buffer.alloc(c.pageSize)])), 'HOTSWAP_ERR_TRUNCATED')
})

test('a corrupt page (right size, valid header) fails the integrity check', async () => {
  const c = candidate('corrupt-src.sqlite3', 'never')
  const bytes = Buffer.from(c.bytes)
  // Scribble over the middle of several pages after the first (b-tree pages of items).
  for (let page = 2; page < Math.min(6, bytes.length / c.pageSize); page++) {
    randomBytes(c.pageSize - 200).copy(bytes, page * c.pageSize + 100)
  }
  await assertRefused(await cp(['-', 'live'], bytes), 'HOTSWAP_ERR_INTEGRITY')
})

test('a -wal file pushed as a database is refused with a message saying so', async () => {
  const src = join(t.dir, 'walsrc.sqlite3')
  const db = new Database(src)
  let wal: Buffer
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL)')
    db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
    db.prepare("INSERT INTO meta VALUES ('label', 'from-wal')").run()
    // Copied while the connection is open, so the -wal still holds its frames.
    wal = readFileSync(`${src}-wal`)
  } finally {
    db.close()
  }
  assert.ok(wal.length > 32, 'a real -wal with frames')
  const path = file('stray.sqlite3-wal', wal)
  const res = await cp([path, 'live.sqlite3'])
  await assertRefused(res, 'HOTSWAP_ERR_NOT_SQLITE')
  assert.match(res.stderr.split('\n')[0] ?? '', /-wal file/)
})

test('a different schema is refused with a +/- diff', async () => {
  const path = join(t.dir, 'other-schema.sqlite3')
  const db = new Database(path)
  try {
    // items gains a column, meta is the same, and a new table appears.
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, sku TEXT);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE extra (id INTEGER PRIMARY KEY);
             INSERT INTO meta VALUES ('label', 'other-schema');`)
  } finally {
    db.close()
  }
  const res = await cp([path, 'live.sqlite3'])
  await assertRefused(res, 'HOTSWAP_ERR_SCHEMA_MISMATCH')
  const lines = res.stderr.split('\n')
  assert.ok(lines.some((l) => /^\s+- table items: create table items\(id integer primary key,name text not null,price_cents integer not null\)$/.test(l)),
    `the live items table is shown with -; stderr:\n${res.stderr}`)
  assert.ok(lines.some((l) => /^\s+\+ table items: .*sku text\)$/.test(l)), `the uploaded items table is shown with +; stderr:\n${res.stderr}`)
  assert.ok(lines.some((l) => /^\s+\+ table extra: create table extra\(id integer primary key\)$/.test(l)), `the new table is shown with +; stderr:\n${res.stderr}`)
  assert.ok(!lines.some((l) => /table meta/.test(l)), 'an unchanged table is not in the diff')
  assert.match(res.stderr, /--skip-schema-check/)
})

test('a destination that is not managed is refused, listing the managed ones', async () => {
  const c = candidate('unmanaged-src.sqlite3', 'never', 10)
  const res = await cp([c.path, 'elsewhere.sqlite3'])
  await assertRefused(res, 'HOTSWAP_ERR_NOT_MANAGED')
  const first = res.stderr.split('\n')[0] ?? ''
  assert.ok(first.includes(`live (${realpathSync(live)})`), `lists live with its path; got: ${first}`)
  assert.ok(first.includes(`cache (${realpathSync(cache)})`), `lists cache with its path; got: ${first}`)
  assert.deepEqual(readdirSync(t.dir).filter((n) => n === 'elsewhere.sqlite3'), [], 'nothing written to the unmanaged path')
  // By stdin, with a name that is not one of ours.
  const byName = await cp(['-', 'nosuchdb'], c.bytes)
  await assertRefused(byName, 'HOTSWAP_ERR_NOT_MANAGED')
  assert.match(byName.stderr.split('\n')[0] ?? '', /live \(.*\).*cache \(/)
})

test('both sides managed is refused', async () => {
  const res = await cp(['live', 'cache'])
  await assertRefused(res, 'HOTSWAP_ERR_BOTH_MANAGED')
  const byPath = await cp([cache, live])
  await assertRefused(byPath, 'HOTSWAP_ERR_BOTH_MANAGED')
  assert.equal(labelOf(cache), 'cache-v1', 'the other managed database is untouched')
})

test('a missing source file is refused', async () => {
  const res = await cp(['no-such-file.sqlite3', 'live.sqlite3'])
  await assertRefused(res, 'HOTSWAP_ERR_SOURCE')
  assert.match(res.stderr.split('\n')[0] ?? '', /no-such-file\.sqlite3/)
})

test('an unreadable source is refused (also when running as root)', async () => {
  const c = candidate('readable.sqlite3', 'never', 10)
  // A path through a non-directory fails with ENOTDIR for every user, root included.
  await assertRefused(await cp([join(c.path, 'inner.sqlite3'), 'live.sqlite3']), 'HOTSWAP_ERR_SOURCE')
  // A directory is not a database file.
  const dir = join(t.dir, 'a-directory.sqlite3')
  mkdirSync(dir)
  await assertRefused(await cp([dir, 'live.sqlite3']), 'HOTSWAP_ERR_SOURCE')
  // chmod 000 stops every user but root (root reads it anyway, so that case proves nothing
  // there; the two cases above cover root).
  if (process.getuid?.() !== 0) {
    const locked = file('locked.sqlite3', c.bytes)
    chmodSync(locked, 0o000)
    try {
      await assertRefused(await cp([locked, 'live.sqlite3']), 'HOTSWAP_ERR_SOURCE')
    } finally {
      chmodSync(locked, 0o600)
    }
  }
})

test('an unknown flag to cp is a usage error (exit 2) and reaches no server', async () => {
  const c = candidate('flag-src.sqlite3', 'never', 10)
  const res = await cp([c.path, 'live.sqlite3', '--no-such-flag'])
  await assertRefused(res, 'HOTSWAP_ERR_USAGE', 2)
  assert.match(res.stderr.split('\n')[0] ?? '', /--no-such-flag/)
})

test('--skip-integrity-check is accepted, but a truncated file is still refused', async () => {
  const c = candidate('skip-integrity.sqlite3', 'v2')
  const cut = file('skip-integrity-cut.sqlite3', c.bytes.subarray(0, c.bytes.length - 10))
  await assertRefused(await cp([cut, 'live.sqlite3', '--skip-integrity-check']), 'HOTSWAP_ERR_TRUNCATED')

  const res = await cp([c.path, 'live.sqlite3', '--skip-integrity-check'])
  await assertSwapped(res, 'v2')
  await assertNoLeftoversEventually()
})

test('--skip-schema-check swaps in a different schema and the new data is served', async () => {
  const path = join(t.dir, 'new-schema.sqlite3')
  seed(path, { label: 'v3-new-schema', extraSql: 'CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT);' })
  const refused = await cp([path, 'live.sqlite3'])
  await assertRefused(refused, 'HOTSWAP_ERR_SCHEMA_MISMATCH')
  assert.match(refused.stderr, /^\s+\+ table extra: /m)

  const res = await cp([path, 'live.sqlite3', '--skip-schema-check'])
  await assertSwapped(res, 'v3-new-schema')
  const db = new Database(live, { readonly: true })
  try {
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").pluck().get(), 1, 'the new table is live')
  } finally {
    db.close()
  }
  await assertNoLeftoversEventually()
})
