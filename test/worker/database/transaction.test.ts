// swapSafeTransaction (src/worker/database/transaction.ts): db.transaction(fn), made once,
// runs on the connection current at each call, so it commits into the new file after a swap
// (and keeps better-sqlite3's behaviour: rollback on a throw, the deferred/immediate/exclusive
// variants). Real SQLite files, swapped in process (support.ts).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertFilesHold, codeOf, keepOld, openLive, swap, tempDir } from './support.js'

test('a transaction made before the swap commits into the new file after it, in each of its variants', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
  const insertMany = db.transaction((names: string[]) => {
    assert.equal(db.inTransaction, true)
    for (const n of names) insert.run(n)
    return names.length
  })
  assert.equal(insertMany(['before']), 1)
  const old = keepOld(file)

  swap(slot, file, ['new'])
  assert.equal(insertMany(['plain']), 1)
  assert.equal(insertMany.deferred(['deferred']), 1)
  assert.equal(insertMany.immediate(['immediate']), 1)
  swap(slot, file, ['newer'])
  assert.equal(insertMany.exclusive(['exclusive']), 1)
  assert.equal(db.inTransaction, false)
  assertFilesHold(slot, file, old, { live: ['newer', 'exclusive'], old: ['old', 'before'] })
})

test('a throw rolls the transaction back on the new connection; a call while paused fails with HOTSWAP_ERR_PAUSED', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['old'])
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
  const failing = db.transaction(function (this: unknown, name: string) {
    insert.run(name)
    throw new Error(`no ${name}`)
  })
  const ok = db.transaction((name: string) => insert.run(name).changes)
  swap(slot, file, ['new'], () => {
    assert.equal(codeOf(() => ok('paused')), 'HOTSWAP_ERR_PAUSED')
    assert.equal(codeOf(() => ok.immediate('paused')), 'HOTSWAP_ERR_PAUSED')
  })
  assert.throws(() => failing('x'), /no x/)
  assert.equal(db.inTransaction, false)
  assert.equal(ok('kept'), 1)
  assert.deepEqual(db.prepare('SELECT name FROM items ORDER BY id').pluck().all(), ['new', 'kept'])
})
