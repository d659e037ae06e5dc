// `node app.js` in development, no serve: database(path) is better-sqlite3's new Database(path,
// options). A missing file is created and served; `readonly` refuses a write with SQLite's own
// error; `fileMustExist` on a missing file stops the app with an error naming the path, as does a
// missing directory; the handle reports its options.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fixture, request, seed, startNodeApp, testDir } from '../support/index.js'

const app = fixture('dev-app.mjs')

test('database("./db/new.sqlite3") on a missing file creates it, and the app serves and writes to it', async (t) => {
  const dir = testDir(t)
  mkdirSync(join(dir, 'db'))
  const node = await startNodeApp(app, { cwd: dir })
  t.after(async () => { await node.stop() })
  const tables = await request(node.port, '/tables', { keepAlive: false })
  assert.equal(tables.status, 200, `${tables.body}\n${node.output()}`)
  assert.deepEqual(tables.json(), { tables: [], journalMode: 'delete', readonly: false, file: join(dir, 'db', 'new.sqlite3') })
  assert.ok(existsSync(join(dir, 'db', 'new.sqlite3')), 'the file was created')
  const note = await request(node.port, '/note?body=first', { keepAlive: false })
  assert.deepEqual(note.json(), { notes: 1 })
  assert.equal(await node.stop(), null, 'ended by SIGTERM, not by an error')
})

test('readonly: the app opens an existing file, reports readonly, and a write gets SQLite\'s SQLITE_READONLY', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'ro.sqlite3')
  seed(file, { label: 'ro' })
  const node = await startNodeApp(app, { cwd: dir, env: { DEV_DB: file, DEV_DB_OPTIONS: JSON.stringify({ readonly: true }) } })
  t.after(async () => { await node.stop() })
  assert.equal((await request(node.port, '/label', { keepAlive: false })).json().label, 'ro')
  assert.equal((await request(node.port, '/tables', { keepAlive: false })).json().readonly, true)
  const write = await request(node.port, '/note', { keepAlive: false })
  assert.equal(write.status, 500)
  assert.deepEqual(write.json(), { error: 'attempt to write a readonly database', code: 'SQLITE_READONLY' })
})

test('fileMustExist on a missing file: the app stops with SQLITE_CANTOPEN naming the path, and no file is made', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'absent.sqlite3')
  const node = await startNodeApp(app, { cwd: dir, env: { DEV_DB: file, DEV_DB_OPTIONS: JSON.stringify({ fileMustExist: true }) } })
  t.after(async () => { await node.stop() })
  assert.equal(await node.exited, 1)
  assert.match(node.output(), new RegExp(`SqliteError: unable to open database file: ${file.replace(/[.]/g, '\\.')} \\(no such file\\)`))
  assert.match(node.output(), /code: 'SQLITE_CANTOPEN'/)
  assert.equal(existsSync(file), false)
})
