// SwapSafeIterator (src/worker/database/iterator.ts): what iterate() returns, tracked by its
// slot from its first row to its last. A pause ends one left unfinished (a streaming response
// whose client went away) instead of failing the swap on a busy connection, logs its SQL, and
// its next() then throws HOTSWAP_ERR_PAUSED: never a silent end of rows.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { HotswapError } from '../../../src/shared/errors.js'
import { codeOf, makeDb, openLive, swap, tempDir } from './support.js'

// The slot's logger is made at its first warning: from then on it also writes here.
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotswap-iter-log-'))
const logFile = path.join(logDir, 'log.jsonl')
process.env.HOTSWAP_LOG_FILE = logFile
// At exit, not in after(): the logger keeps the file open to the end of the process.
process.once('exit', () => fs.rmSync(logDir, { recursive: true, force: true }))

/** The warnings logged so far, once there is at least one (the file transport writes later). */
async function warnings (): Promise<string[]> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.endsWith('}')) : []
    const warned = lines.map((l) => JSON.parse(l) as { level: string, message: string }).filter((e) => e.level === 'warn')
    if (warned.length > 0) return warned.map((e) => e.message)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return []
}

test('an iterator left unfinished is ended by the pause, which then succeeds; its next() throws HOTSWAP_ERR_PAUSED; the pause logs its SQL', async (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['a', 'b', 'c'])
  const stmt = db.prepare('SELECT name FROM items ORDER BY id').pluck()
  const left = stmt.iterate()
  assert.equal(left.next().value, 'a')
  assert.equal(left.source, 'SELECT name FROM items ORDER BY id')

  swap(slot, file, ['new a', 'new b'])
  assert.throws(() => left.next(), (err: unknown) => {
    assert.ok(err instanceof HotswapError)
    assert.equal(err.code, 'HOTSWAP_ERR_PAUSED')
    assert.match(err.message, /this iterator over "SELECT name FROM items ORDER BY id" was left unfinished and ended when database "live" was closed for a swap/)
    return true
  })
  assert.equal(codeOf(() => left.next()), 'HOTSWAP_ERR_PAUSED', 'every next() says so, not only the first')
  assert.deepEqual(left.return(), { done: true, value: undefined })
  assert.deepEqual([...stmt.iterate()], ['new a', 'new b'], 'a new iterate() reads the new file')

  const logged = await warnings()
  assert.equal(logged.length, 1, logged.join('\n'))
  assert.match(logged[0] as string, /^closed 1 unfinished iterator\(s\) on database "live" for the swap: "SELECT name FROM items ORDER BY id"; run iterate\(\) to its end, or call its return\(\)/)
})

test('iterators run to their end, returned early, broken out of or failed are no longer tracked: the pause leaves them be', (t) => {
  const dir = tempDir(t)
  const { slot, db, file } = openLive(t, dir, ['a', 'b', 'c'])
  db.function('fail_on', (name: string) => { if (name === 'b') throw new Error('row b'); return name })
  const stmt = db.prepare('SELECT name FROM items ORDER BY id').pluck()

  const ran = stmt.iterate()
  assert.deepEqual([...ran], ['a', 'b', 'c'])
  const returned = stmt.iterate()
  returned.next()
  assert.deepEqual(returned.return('r'), { done: true, value: 'r' })
  const broken = stmt.iterate()
  for (const name of broken) if (name === 'a') break
  const failing = db.prepare('SELECT fail_on(name) FROM items ORDER BY id').pluck().iterate()
  assert.equal(failing.next().value, 'a')
  assert.throws(() => failing.next(), /row b/)

  swap(slot, file, ['new'])
  // Not ended by the pause (that next() would throw HOTSWAP_ERR_PAUSED): done, as they were.
  for (const it of [ran, returned, broken, failing]) assert.deepEqual(it.next(), { done: true, value: undefined })
})

test('while one of its iterators keeps the connection busy, attachedFiles answers with what was attached when it started', (t) => {
  const dir = tempDir(t)
  const { slot, db } = openLive(t, dir, ['a', 'b'])
  const cache = makeDb(path.join(dir, 'cache.sqlite3'), ['c'])
  db.prepare('ATTACH DATABASE ? AS cache').run(cache)
  const first = db.prepare('SELECT name FROM items').iterate()
  first.next()
  const second = db.prepare('SELECT name FROM cache.items').iterate()
  second.next()
  assert.throws(() => db.pragma('database_list'), /busy/i, 'the connection cannot be asked')
  assert.deepEqual(slot.attachedFiles(), [cache])
  first.return()
  second.return()
  assert.deepEqual(slot.attachedFiles(), [cache])
})

test('shutdown ends the unfinished iterators and closes the connection', (t) => {
  const dir = tempDir(t)
  const { slot, db } = openLive(t, dir, ['a', 'b'])
  const it = db.prepare('SELECT name FROM items').iterate()
  it.next()
  slot.shutdown()
  assert.equal(slot.isOpen, false)
  assert.equal(codeOf(() => it.next()), 'HOTSWAP_ERR_PAUSED')
  assert.throws(() => db.prepare('SELECT 1').get(), /The database connection is not open/)
})
