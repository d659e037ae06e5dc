// openDatabase (src/worker/runtime.ts), what database() calls: outside serve it is
// better-sqlite3's new Database(path, options), opened at the call; under serve (the runtime in
// managed mode, as the worker bootstrap sets it) the managed file must exist whatever the options
// say. In process, on real SQLite files. And what onPause/onResume hooks are told: the names the
// swap replaces, a frozen copy per call; a hook that takes no argument runs as before.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { onPause, onResume } from '../../src/index.js'
import { HotswapError } from '../../src/shared/errors.js'
import type { DatabaseInfo } from '../../src/shared/messages.js'
import { getRuntime, openDatabase, pauseWorker, resumeWorker } from '../../src/worker/runtime.js'
import { makeDb, tempDir } from './database/support.js'

/** The runtime as the worker bootstrap sets it under serve, until the test `t` ends. */
function managed (t: TestContext, databases: DatabaseInfo[]): void {
  const rt = getRuntime()
  rt.mode = 'managed'
  rt.databases = databases
  t.after(() => {
    for (const h of rt.handles.values()) { try { h.close() } catch { /* closed */ } }
    rt.handles.clear()
    rt.slots.clear()
    rt.databases = []
    rt.mode = 'standalone'
    rt.pauseHooks.length = 0
    rt.resumeHooks.length = 0
  })
}

test('outside serve: a missing file is created at the call, and the options reach the connection', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'made.sqlite3')
  const seen: unknown[] = []
  const db = openDatabase(file, { timeout: 1234, verbose: (sql) => seen.push(sql) })
  t.after(() => db.close())
  assert.ok(fs.existsSync(file), 'created by the call itself, as new Database() does')
  assert.equal(db.pragma('busy_timeout', { simple: true }), 1234)
  db.exec('CREATE TABLE t (x)')
  assert.ok(seen.includes('CREATE TABLE t (x)'), 'verbose sees the SQL')
  assert.equal(db.readonly, false)
})

test('outside serve: readonly refuses a write with SQLite\'s error; the same path again with other options is refused, without options it is the same handle', (t) => {
  const dir = tempDir(t)
  const file = makeDb(path.join(dir, 'ro.sqlite3'), ['a'])
  const db = openDatabase(file, { readonly: true })
  t.after(() => db.close())
  assert.equal(db.readonly, true)
  assert.throws(() => db.exec("INSERT INTO items (name) VALUES ('b')"), { name: 'SqliteError', code: 'SQLITE_READONLY', message: 'attempt to write a readonly database' })
  assert.equal(openDatabase(file), db)
  assert.equal(openDatabase(file, { readonly: true }), db)
  assert.throws(() => openDatabase(file, { readonly: false }), (err: unknown) => {
    assert.ok(err instanceof HotswapError)
    assert.equal(err.code, 'HOTSWAP_ERR_CONFIG')
    assert.match(err.message, new RegExp(`database "ro" \\(${file.replace(/[.]/g, '\\.')}\\) is open already with other options \\(readonly\\)`))
    return true
  })
})

test('outside serve: fileMustExist on a missing file throws SQLITE_CANTOPEN naming the path; nothing is made or kept', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'absent.sqlite3')
  assert.throws(() => openDatabase(file, { fileMustExist: true }), { name: 'SqliteError', code: 'SQLITE_CANTOPEN', message: `unable to open database file: ${file} (no such file)` })
  assert.equal(fs.existsSync(file), false)
  const db = openDatabase(file) // The failed call kept nothing: this one creates the file.
  t.after(() => db.close())
  assert.ok(fs.existsSync(file))
})

test('outside serve: two files of one name in two folders are two databases', (t) => {
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'a'))
  fs.mkdirSync(path.join(dir, 'b'))
  const a = openDatabase(makeDb(path.join(dir, 'a', 'x.sqlite3'), ['in a']))
  const b = openDatabase(makeDb(path.join(dir, 'b', 'x.sqlite3'), ['in b']))
  t.after(() => { a.close(); b.close() })
  assert.equal(a.prepare('SELECT name FROM items').pluck().get(), 'in a')
  assert.equal(b.prepare('SELECT name FROM items').pluck().get(), 'in b')
})

test('under serve: fileMustExist is implied (a missing managed file is never created), readonly holds across a swap\'s reopen', async (t) => {
  const dir = tempDir(t)
  const live = makeDb(path.join(dir, 'live.sqlite3'), ['old'])
  const gone = path.join(dir, 'gone.sqlite3')
  managed(t, [{ name: 'live', path: live }, { name: 'gone', path: gone }])
  const missing = openDatabase('gone', { fileMustExist: false })
  assert.throws(() => missing.prepare('SELECT 1').get(), { code: 'SQLITE_CANTOPEN', message: `unable to open database file: ${gone} (no such file)` })
  assert.equal(fs.existsSync(gone), false)

  const db = openDatabase('live', { readonly: true })
  assert.equal(db.prepare('SELECT name FROM items').pluck().get(), 'old')
  await pauseWorker(['live'], 1000)
  makeDb(path.join(dir, 'new.sqlite3'), ['new'])
  fs.renameSync(path.join(dir, 'new.sqlite3'), live)
  await resumeWorker(['live'])
  assert.equal(db.prepare('SELECT name FROM items').pluck().get(), 'new')
  assert.throws(() => db.exec("INSERT INTO items (name) VALUES ('x')"), { code: 'SQLITE_READONLY' })
})

test('under serve: onPause/onResume hooks get the swapped names, each call its own frozen copy; a zero-argument hook runs too', async (t) => {
  const dir = tempDir(t)
  managed(t, ['app', 'cache', 'other'].map((name) => ({ name, path: makeDb(path.join(dir, `${name}.sqlite3`), [name]) })))
  const other = openDatabase('other')
  const otherConn = other.connection
  const seen: Array<[string, readonly string[]]> = []
  let zeroArg = 0
  onPause((names) => {
    seen.push(['pause', names])
    assert.throws(() => { (names as string[]).push('x') }, TypeError)
  })
  onPause(() => { zeroArg++ })
  onResume((names) => { seen.push(['resume', names]) })
  onResume(() => { zeroArg++ })
  const names = ['app', 'cache']
  await pauseWorker(names, 1000)
  await resumeWorker(names)
  assert.deepEqual(seen, [['pause', ['app', 'cache']], ['resume', ['app', 'cache']]])
  assert.ok(seen.every(([, got]) => Object.isFrozen(got) && got !== names), 'a frozen copy, not the message\'s array')
  assert.equal(zeroArg, 2)
  assert.equal(other.connection, otherConn, 'a database not in the swap keeps its connection')
})
