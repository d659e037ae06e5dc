// Slot (src/worker/database/slot.ts): the one connection of a managed database, closed by
// pause() and opened again by resume(), the entry points pauseWorker/resumeWorker call. In
// process, on real SQLite files replaced on disk between the two, with no serve process.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { HotswapError } from '../../../src/shared/errors.js'
import { Slot } from '../../../src/worker/database/slot.js'
import { ownHolders } from '../../../src/worker/own-holders.js'
import { codeOf, makeDb, openLive, swap, tempDir } from './support.js'

const names = (slot: Slot, table = 'items'): unknown[] => slot.conn().prepare(`SELECT name FROM ${table} ORDER BY id`).pluck().all()

test('pause closes the file (no descriptor left), calls fail with HOTSWAP_ERR_PAUSED; resume reopens at once on the file now at the path', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['old'])
  assert.equal(slot.isOpen, false, 'opened lazily')
  assert.deepEqual(names(slot), ['old'])
  assert.equal(slot.generation, 1)
  assert.deepEqual(ownHolders([file]), [file])

  slot.pause()
  assert.equal(slot.isOpen, false)
  assert.equal(slot.isPaused, true)
  assert.equal(slot.available, false)
  assert.deepEqual(ownHolders([file]), [], 'the pause closed the descriptor: the install may rename over the file')
  assert.throws(() => slot.conn(), (err: unknown) => {
    assert.ok(err instanceof HotswapError)
    assert.equal(err.code, 'HOTSWAP_ERR_PAUSED')
    assert.match(err.message, /database "live" is closed while it is being swapped; wrap background work in gate\(\)/)
    return true
  })
  fs.renameSync(makeDb(path.join(dir, 'new.sqlite3'), ['new 1', 'new 2']), file)
  assert.equal(codeOf(() => slot.conn()), 'HOTSWAP_ERR_PAUSED', 'still paused after the rename')

  slot.resume()
  assert.equal(slot.isOpen, true, 'resume opens eagerly, before the first call')
  assert.equal(slot.isPaused, false)
  assert.equal(slot.generation, 2)
  assert.deepEqual(names(slot), ['new 1', 'new 2'])
  slot.resume()
  assert.equal(slot.generation, 2, 'a second resume (resumeWorker is idempotent) keeps the connection')
})

test('record() and open hooks run now and again, in order, on every reopen (the replays before the hooks)', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['old'])
  const calls: string[] = []
  slot.record((conn) => { calls.push('replay 1'); conn.function('tag', () => 'one') })
  assert.equal(calls.length, 0, 'not open yet: nothing to run it on')
  slot.conn()
  assert.deepEqual(calls, ['replay 1'])
  slot.addOpenHook((conn) => { calls.push('hook'); conn.pragma('cache_size = -2345') })
  slot.record(() => { calls.push('replay 2') })
  assert.deepEqual(calls, ['replay 1', 'hook', 'replay 2'], 'each runs at once on the open connection')

  calls.length = 0
  swap(slot, file, ['new'])
  assert.deepEqual(calls, ['replay 1', 'replay 2', 'hook'])
  assert.equal(slot.conn().prepare('SELECT tag()').pluck().get(), 'one')
  assert.equal(slot.conn().pragma('cache_size', { simple: true }), -2345)
  assert.deepEqual(names(slot), ['new'])
})

test('a reopen that fails leaves the slot closed, not half set up; the next call opens again', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['old'])
  let failing = false
  slot.addOpenHook(() => { if (failing) throw new Error('hook failed') })
  slot.conn()

  failing = true
  assert.throws(() => swap(slot, file, ['new']), /hook failed/)
  assert.equal(slot.isOpen, false)
  assert.equal(slot.isPaused, false, 'the resume ran: not paused')
  assert.deepEqual(ownHolders([file]), [], 'the connection the hook failed on was closed')
  failing = false
  assert.deepEqual(names(slot), ['new'], 'the first call after a failed reopen retries the open')

  slot.pause()
  fs.unlinkSync(file)
  assert.throws(() => slot.resume(), /unable to open|does not exist|directory does not exist/i, 'fileMustExist: a missing file is not created empty')
  assert.equal(fs.existsSync(file), false)
  makeDb(file, ['back'])
  assert.deepEqual(names(slot), ['back'])
})

test('a slot paused before it ever opened (a database the app has not used yet) stays closed until resume', (t) => {
  const dir = tempDir(t)
  const file = makeDb(path.join(dir, 'unused.sqlite3'), ['old'])
  const slot = new Slot('unused', file)
  t.after(() => slot.shutdown())
  slot.pause()
  assert.equal(codeOf(() => slot.conn()), 'HOTSWAP_ERR_PAUSED')
  fs.renameSync(makeDb(path.join(dir, 'new.sqlite3'), ['new']), file)
  slot.resume()
  assert.equal(slot.generation, 1)
  assert.deepEqual(names(slot), ['new'])
})

test('a database the connection ATTACHed is attached again on the reopen, on the file now at its path', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['main old'])
  const cache = makeDb(path.join(dir, 'cache.sqlite3'), ['cache old'])
  slot.conn().prepare('ATTACH DATABASE ? AS cache').run(cache)
  slot.conn().exec("ATTACH DATABASE '' AS scratch")
  assert.deepEqual(slot.attachedFiles(), [cache], 'main, temp and a temporary attachment are left out')
  assert.deepEqual(names(slot, 'cache.items'), ['cache old'])

  slot.pause()
  assert.deepEqual(slot.attachedFiles(), [], 'closed: nothing attached')
  assert.deepEqual(ownHolders([cache]), [], 'the attached file closed with the connection')
  fs.renameSync(makeDb(path.join(dir, 'cache.next'), ['cache new']), cache)
  fs.renameSync(makeDb(path.join(dir, 'main.next'), ['main new']), file)
  slot.resume()
  assert.deepEqual(names(slot), ['main new'])
  assert.deepEqual(names(slot, 'cache.items'), ['cache new'])
  assert.deepEqual((slot.conn().pragma('database_list') as Array<{ name: string }>).map((d) => d.name).sort(), ['cache', 'main', 'scratch'])
})

test('an open hook that attaches a database itself is not attached twice on the reopen', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['main'])
  const cache = makeDb(path.join(dir, 'cache.sqlite3'), ['cache'])
  slot.addOpenHook((conn) => { conn.prepare('ATTACH DATABASE ? AS cache').run(cache) })
  slot.conn()
  swap(slot, file, ['main new'])
  assert.deepEqual(names(slot, 'cache.items'), ['cache'])
  assert.deepEqual(slot.attachedFiles(), [cache])
})

test('a statement still running on the raw connection refuses the pause (HOTSWAP_ERR_DB_BUSY): the connection serves on, unpaused', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['a', 'b'])
  const raw = slot.conn().prepare('SELECT name FROM items').pluck().iterate()
  assert.equal(raw.next().value, 'a')
  assert.throws(() => slot.attachedFiles(), /busy/i, 'the pragma cannot run on a busy connection, and no iterator of ours noted anything')

  assert.throws(() => slot.pause(), (err: unknown) => {
    assert.ok(err instanceof HotswapError)
    assert.equal(err.code, 'HOTSWAP_ERR_DB_BUSY')
    assert.match(err.message, /database "live" cannot be closed for the swap: a statement is still running on its connection/)
    return true
  })
  assert.equal(slot.isPaused, false)
  assert.equal(slot.isOpen, true)
  assert.deepEqual(ownHolders([file]), [file], 'kept, not dropped open on the old file')
  assert.equal(raw.next().value, 'b', 'the iterator runs on')
  raw.return?.()
  swap(slot, file, ['new'])
  assert.deepEqual(names(slot), ['new'])
})

test('closeByApp closes for good (a TypeError as better-sqlite3 throws), and a resume does not reopen it', (t) => {
  const dir = tempDir(t)
  const { slot, file } = openLive(t, dir, ['a', 'b'])
  const raw = slot.conn().prepare('SELECT name FROM items').iterate()
  raw.next()
  assert.throws(() => slot.closeByApp(), /busy/i, 'refused while a statement runs, as better-sqlite3 refuses it')
  assert.equal(slot.available, true)
  raw.return?.()

  slot.closeByApp()
  assert.equal(slot.available, false)
  assert.throws(() => slot.conn(), (err: unknown) => err instanceof TypeError && err.message === 'The database connection is not open')
  slot.pause()
  slot.resume()
  assert.equal(slot.isOpen, false)
  assert.deepEqual(ownHolders([file]), [])
})
