// SwapSafeDatabase (src/worker/database/handle.ts): the handle database() returns. What
// configures a connection through it (pragmas that set something, user functions, aggregates,
// virtual tables, default modes, onOpen hooks) is replayed on the connection a swap opens.
// Real SQLite files, swapped in process (support.ts).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { codeOf, namesIn, openLive, swap, tempDir } from './support.js'

test('pragmas that set something are replayed on the new connection; their first result is returned', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  assert.deepEqual(db.pragma('cache_size = -3456'), [])
  assert.equal(db.pragma('foreign_keys = ON', { simple: true }), undefined)
  assert.equal(db.pragma('cache_size', { simple: true }), -3456)

  swap(slot, file, ['new'])
  assert.notEqual(db.connection.pragma('cache_size', { simple: true }), new Database(':memory:').pragma('cache_size', { simple: true }), 'not the default')
  assert.equal(db.pragma('cache_size', { simple: true }), -3456)
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1)
})

test('a pragma, function or exec while paused fails with HOTSWAP_ERR_PAUSED and is not replayed later', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  db.exec('SELECT 1') // Open.
  swap(slot, file, ['new'], () => {
    assert.equal(codeOf(() => db.pragma('cache_size = -999')), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.function('late', () => 1)), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.aggregate('late_agg', { start: 0, step: (total: unknown) => total })), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.exec('SELECT 1')), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.pragma('cache_size')), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.connection), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => db.serialize()), 'HOTSWAP_ERR_PAUSED')
  })
  assert.notEqual(db.pragma('cache_size', { simple: true }), -999)
  assert.throws(() => db.prepare('SELECT late()').get(), /no such function: late/)
})

test('user functions (with and without options), aggregates, virtual tables and default safe integers are replayed on the new connection', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  db.function('shout', (s: string) => s.toUpperCase())
  db.function('joined_args', { varargs: true, deterministic: true }, (...parts: unknown[]) => parts.join('-'))
  db.aggregate('joined', { start: '', step: (acc: unknown, s: unknown) => String(acc) + String(s) })
  db.table('numbers', { columns: ['n'], * rows () { yield { n: 1 }; yield { n: 2 } } })
  const q = db.prepare("SELECT shout(name) AS a, joined_args(name, name, 'x') AS b FROM items")
  const sum = db.prepare('SELECT joined(name) FROM items').pluck()
  assert.deepEqual(q.get(), { a: 'OLD', b: 'old-old-x' })

  swap(slot, file, ['x', 'y'])
  assert.deepEqual(q.all(), [{ a: 'X', b: 'x-x-x' }, { a: 'Y', b: 'y-y-x' }], 'a statement prepared before the swap finds them')
  assert.equal(sum.get(), 'xy')
  assert.deepEqual(db.prepare('SELECT n FROM numbers').pluck().all(), [1, 2])

  db.defaultSafeIntegers()
  swap(slot, file, ['z'])
  assert.equal(db.prepare('SELECT id FROM items').pluck().get(), 1n)
  db.defaultSafeIntegers(false)
  swap(slot, file, ['w'])
  assert.equal(db.prepare('SELECT id FROM items').pluck().get(), 1, 'the later call is replayed after the earlier one')
})

test('unsafeMode is replayed: a write while an iterator runs works on the new connection', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['a', 'b'])
  db.unsafeMode()
  swap(slot, file, ['new a', 'new b'])
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
  for (const name of db.prepare('SELECT name FROM items WHERE id <= 2').pluck().iterate()) insert.run(`${String(name)} copy`)
  slot.shutdown()
  assert.deepEqual(namesIn(file), ['new a', 'new b', 'new a copy', 'new b copy'])
})

test('onOpen hooks run now when open, at the first open when not, and after every reopen', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const seen: Database.Database[] = []
  db.onOpen((conn) => { seen.push(conn) })
  assert.equal(seen.length, 0, 'not open yet')
  const first = db.connection
  assert.deepEqual(seen, [first])
  swap(slot, file, ['new'])
  assert.equal(seen.length, 2)
  assert.notEqual(seen[1], first)
  assert.equal(seen[1], db.connection)
  db.onOpen((conn) => { seen.push(conn) })
  assert.equal(seen.length, 3, 'added while open: run at once')
})

test('the handle\'s getters follow the slot: name, databaseName, open, inTransaction, readonly, memory, connection', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  assert.equal(db.name, file)
  assert.equal(db.databaseName, 'live')
  assert.equal(db.open, true, 'would open on the first call')
  assert.equal(db.inTransaction, false, 'asked without opening')
  assert.equal(slot.isOpen, false)
  assert.equal(db.readonly, false)
  assert.equal(db.memory, false)
  const before = db.connection
  slot.pause()
  assert.equal(db.open, false)
  assert.equal(db.inTransaction, false)
  slot.resume()
  assert.equal(db.open, true)
  assert.notEqual(db.connection, before, 'a new connection')
  assert.equal(before.open, false, 'the old one is closed')
})

test('serialize and backup read the new file after a swap; close() closes the handle for good', async (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  db.exec('SELECT 1')
  swap(slot, file, ['new'])
  const image = new Database(db.serialize())
  assert.deepEqual(image.prepare('SELECT name FROM items').pluck().all(), ['new'])
  image.close()
  const copy = path.join(dir, 'backup.sqlite3')
  await db.backup(copy)
  assert.deepEqual(namesIn(copy), ['new'])

  assert.equal(db.close(), db)
  assert.equal(db.open, false)
  assert.throws(() => db.exec('SELECT 1'), /The database connection is not open/)
  swap(slot, file, ['after close'])
  assert.equal(db.open, false, 'a swap does not reopen a handle the app closed')
  assert.ok(fs.existsSync(file))
})
