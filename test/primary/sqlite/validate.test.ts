// The validate task, called in-process on real SQLite files.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { validate } from '../../../src/primary/sqlite/validate.js'
import { isWalHeader, makeDb, names, rows, sideFiles, tempDir, validateInput } from './support.js'

test('validate accepts a pulled backup and gives it the live WAL mode, leaving no side files', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, '.app.sqlite3.upload-1')
  makeDb(live, { wal: true })
  const db = new Database(live)
  db.prepare('VACUUM INTO ?').run(temp)
  db.close()
  assert.equal(isWalHeader(temp), false, 'VACUUM INTO writes a rollback-journal file')

  const result = validate(validateInput(temp, live))
  assert.ok(result.ok, JSON.stringify(result))
  assert.equal(result.value.journalMode, 'wal')
  assert.equal(result.value.pageSize, 4096)
  assert.equal(result.value.bytes, fs.statSync(temp).size)
  assert.equal(result.value.pageCount * result.value.pageSize, result.value.bytes)
  assert.deepEqual(Object.keys(result.value.timings).sort(), ['fsync', 'header', 'integrity', 'journal', 'schema'])
  assert.equal(isWalHeader(temp), true)
  assert.deepEqual(sideFiles(temp), [])
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.app.sqlite3.upload-1')), ['.app.sqlite3.upload-1'])
  assert.deepEqual(names(temp), ['a', 'b', 'c'])
})

test('validate takes a WAL upload out of WAL when the live database is not in WAL', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live)
  makeDb(temp, { wal: true })
  const result = validate(validateInput(temp, live))
  assert.ok(result.ok, JSON.stringify(result))
  assert.equal(result.value.journalMode, 'delete')
  assert.equal(isWalHeader(temp), false)
  assert.deepEqual(sideFiles(temp), [])
})

test('validate rejects random bytes, an empty file, a truncated file and appended bytes', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { rows: rows('row', 500) })
  const good = fs.readFileSync(live)
  const cases: Array<[string, Buffer, string]> = [
    ['random', randomBytes(8192), 'HOTSWAP_ERR_NOT_SQLITE'],
    ['empty', Buffer.alloc(0), 'HOTSWAP_ERR_EMPTY'],
    ['truncated', good.subarray(0, good.length - 4096), 'HOTSWAP_ERR_TRUNCATED'],
    ['cut', good.subarray(0, good.length - 10), 'HOTSWAP_ERR_TRUNCATED'],
    ['appended', Buffer.concat([good, Buffer.from('trailing garbage')]), 'HOTSWAP_ERR_TRUNCATED'],
  ]
  for (const [name, bytes, code] of cases) {
    const temp = path.join(dir, `upload-${name}`)
    fs.writeFileSync(temp, bytes)
    const result = validate(validateInput(temp, live))
    assert.ok(!result.ok, name)
    assert.equal(result.code, code, `${name}: ${result.message}`)
    assert.deepEqual(sideFiles(temp), [], name)
    assert.ok(fs.existsSync(temp), 'the caller unlinks the temp file, not validate')
  }
})

test('validate rejects a schema mismatch with the diff in details, unless skipped', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live, { wal: true })
  makeDb(temp, { extraColumn: true })
  const result = validate(validateInput(temp, live))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_SCHEMA_MISMATCH')
  assert.deepEqual(result.details, [
    '- table items: create table items(id integer primary key,name text not null)',
    '+ table items: create table items(id integer primary key,name text not null,extra text)',
  ])
  assert.deepEqual(sideFiles(temp), [])

  const skipped = validate(validateInput(temp, live, { schema: true }))
  assert.ok(skipped.ok, JSON.stringify(skipped))
  assert.equal(skipped.value.timings.schema, undefined)
  assert.equal(skipped.value.journalMode, 'wal')
})

test('validate rejects a corrupted b-tree page, unless the integrity check is skipped', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live)
  makeDb(temp, { rows: rows('x'.repeat(100), 2000) })
  const size = fs.statSync(temp).size
  assert.ok(size / 4096 > 40, 'the table spans many pages')
  // Overwrite page 20 (a page of the items b-tree) with garbage; size and header stay valid.
  const fd = fs.openSync(temp, 'r+')
  fs.writeSync(fd, randomBytes(4096), 0, 4096, 19 * 4096)
  fs.closeSync(fd)

  const result = validate(validateInput(temp, live))
  assert.ok(!result.ok)
  assert.ok(['HOTSWAP_ERR_INTEGRITY', 'HOTSWAP_ERR_NOT_SQLITE'].includes(result.code), result.code)
  assert.ok(result.details.length > 0)
  assert.deepEqual(sideFiles(temp), [])

  const skipped = validate(validateInput(temp, live, { integrity: true }))
  assert.ok(skipped.ok, JSON.stringify(skipped))
  assert.equal(skipped.value.timings.integrity, undefined)
})

test('validate reports an unreadable live database as HOTSWAP_ERR_INTERNAL', (t) => {
  const dir = tempDir(t)
  const temp = path.join(dir, 'upload')
  makeDb(temp)
  const result = validate(validateInput(temp, path.join(dir, 'missing.sqlite3')))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_INTERNAL')
  assert.deepEqual(sideFiles(temp), [])
})
