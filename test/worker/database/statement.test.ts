// SwapSafeStatement (src/worker/database/statement.ts): a statement prepared once keeps working
// across swaps. It is prepared again on the new connection, with its modes and bound
// parameters, when the slot has reopened. Real SQLite files, swapped in process (support.ts).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SwapSafeStatement } from '../../../src/worker/database/statement.js'
import { assertFilesHold, codeOf, keepOld, openLive, swap, tempDir } from './support.js'

test('a statement prepared before the swap reads the new file after it, swap after swap', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const all = db.prepare('SELECT name FROM items ORDER BY id')
  const one = db.prepare('SELECT name FROM items WHERE id = ?')
  assert.deepEqual(all.all(), [{ name: 'old' }])

  swap(slot, file, ['new 1', 'new 2'])
  assert.deepEqual(all.all(), [{ name: 'new 1' }, { name: 'new 2' }])
  assert.deepEqual(one.get(2), { name: 'new 2' })
  assert.deepEqual([...all.iterate()], [{ name: 'new 1' }, { name: 'new 2' }])
  assert.deepEqual(all.columns().map((c) => c.name), ['name'])
  assert.equal(all.reader, true)
  assert.equal(all.readonly, true)
  assert.equal(all.database, db.connection, 'the current connection')

  swap(slot, file, ['third'])
  assert.deepEqual(one.get(1), { name: 'third' })
})

test('run() after a swap writes into the new file, not the old one', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
  insert.run('before')
  const old = keepOld(file)

  swap(slot, file, ['new'])
  assert.equal(insert.run('after').changes, 1)
  assertFilesHold(slot, file, old, { live: ['new', 'after'], old: ['old', 'before'] })
})

test('pluck, expand, raw and safeIntegers are applied again on the new connection, the last of pluck/expand/raw winning', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const pluck = db.prepare('SELECT name FROM items').pluck()
  const raw = db.prepare('SELECT id, name FROM items').pluck().raw()
  const expand = db.prepare('SELECT id, name FROM items').expand()
  const big = db.prepare('SELECT id FROM items').pluck().safeIntegers()
  const off = db.prepare('SELECT name FROM items').pluck().pluck(false)
  assert.deepEqual(raw.get(), [1, 'old'])

  swap(slot, file, ['new'])
  assert.equal(pluck.get(), 'new')
  assert.deepEqual(raw.get(), [1, 'new'], 'raw() replaced pluck(): not replayed after it')
  assert.deepEqual(expand.get(), { items: { id: 1, name: 'new' } })
  assert.equal(big.get(), 1n)
  assert.deepEqual(off.get(), { name: 'new' })

  swap(slot, file, ['third'])
  big.safeIntegers(false)
  assert.equal(big.get(), 1, 'a mode changed on the current statement holds')
  swap(slot, file, ['fourth'])
  assert.equal(big.get(), 1, 'and is what is replayed')
})

test('bound parameters are bound again on the new connection', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['a', 'b'])
  const second = db.prepare('SELECT name FROM items WHERE id = ?').pluck().bind(2)
  assert.equal(second.get(), 'b')
  swap(slot, file, ['new a', 'new b'])
  assert.equal(second.get(), 'new b')
})

test('while paused every call fails with HOTSWAP_ERR_PAUSED; a statement prepared then checks its SQL after the resume', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const stmt = db.prepare('SELECT name FROM items')
  assert.throws(() => db.prepare('SELECT nope FROM items'), /no such column: nope/, 'open: the SQL is checked where it is written')
  slot.pause()
  assert.equal(stmt.busy, false)
  for (const [what, call] of Object.entries({
    get: () => stmt.get(),
    all: () => stmt.all(),
    run: () => stmt.run(),
    iterate: () => stmt.iterate(),
    columns: () => stmt.columns(),
    reader: () => stmt.reader,
    database: () => stmt.database,
    bind: () => stmt.bind(),
  })) {
    assert.equal(codeOf(call), 'HOTSWAP_ERR_PAUSED', what)
  }
  const later = db.prepare('SELECT name FROM items')
  const wrong = db.prepare('SELECT nope FROM items')
  assert.ok(later instanceof SwapSafeStatement, 'prepared without a connection')
  slot.resume()
  assert.deepEqual(later.all(), [{ name: 'old' }])
  assert.throws(() => wrong.get(), /no such column: nope/)
  swap(slot, file, ['new'])
  assert.deepEqual(stmt.all(), [{ name: 'new' }])
})

test('busy is the current statement\'s: true while an iterator of it runs, false once a swap replaced the connection', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['a', 'b'])
  const stmt = db.prepare('SELECT name FROM items')
  const it = stmt.iterate()
  it.next()
  assert.equal(stmt.busy, true)
  it.return()
  assert.equal(stmt.busy, false)
  stmt.iterate().next()
  assert.equal(stmt.busy, true)
  swap(slot, file, ['new'])
  assert.equal(stmt.busy, false, 'the pause ended the iterator; the new connection has not prepared it yet')
  assert.equal(slot.generation, 2)
})

test('a statement returns rows of the same shape after a swap, whatever chain of modes set them', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  // better-sqlite3 keeps one row mode: turning one on replaces the others, turning one off only
  // matters when it is the one in force. Each chain is checked against a plain better-sqlite3
  // statement given the same calls.
  type Call = ['pluck' | 'expand' | 'raw', boolean]
  const chains: Call[][] = [
    [['raw', true], ['pluck', false]],
    [['pluck', true], ['raw', false]],
    [['expand', true], ['pluck', false]],
    [['pluck', true], ['expand', true], ['expand', false]],
    [['raw', true], ['raw', false]],
    [['pluck', true], ['raw', true]],
  ]
  const sql = 'SELECT id, name FROM items'
  const shapes = chains.map((chain) => {
    const stmt = db.prepare(sql)
    for (const [mode, on] of chain) stmt[mode](on)
    return stmt
  })
  swap(slot, file, ['new'])
  const plain = slot.conn()
  chains.forEach((chain, i) => {
    const expected = plain.prepare(sql)
    for (const [mode, on] of chain) expected[mode](on)
    assert.deepEqual(shapes[i]?.get(), expected.get(), `after ${chain.map(([m, on]) => `${m}(${String(on)})`).join('.')}`)
  })
})
