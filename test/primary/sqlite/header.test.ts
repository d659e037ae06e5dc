// checkHeader against real SQLite files and the ways an upload goes wrong.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { checkHeader } from '../../../src/primary/sqlite/header.js'
import { tempDir } from './support.js'

/** A rollback-journal database of several 4096-byte pages. */
function makeDb (file: string): Buffer {
  const db = new Database(file)
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)')
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
  db.transaction(() => { for (let i = 0; i < 200; i++) insert.run('x'.repeat(100) + i) })()
  db.close()
  return fs.readFileSync(file)
}

function check (bytes: Buffer): ReturnType<typeof checkHeader> {
  return checkHeader(bytes.subarray(0, 100), bytes.length)
}

test('a valid database passes with its page size and count', (t) => {
  const bytes = makeDb(path.join(tempDir(t), 'a.sqlite3'))
  const result = check(bytes)
  assert.ok(result.ok)
  assert.equal(result.value.pageSize, 4096)
  assert.equal(result.value.pageCount * 4096, bytes.length)
  assert.ok(result.value.pageCount > 2)
  assert.equal(result.value.walMode, false)
})

test('a WAL-mode database reports walMode', (t) => {
  const file = path.join(tempDir(t), 'w.sqlite3')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (x)')
  db.close()
  const result = check(fs.readFileSync(file))
  assert.ok(result.ok)
  assert.equal(result.value.walMode, true)
})

test('an empty file is HOTSWAP_ERR_EMPTY', () => {
  const result = checkHeader(Buffer.alloc(0), 0)
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_EMPTY')
})

test('random bytes are HOTSWAP_ERR_NOT_SQLITE', () => {
  const result = check(randomBytes(8192))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_NOT_SQLITE')
})

test('a file shorter than the header is HOTSWAP_ERR_NOT_SQLITE', () => {
  const result = check(Buffer.from('SQLite format 3\0short'))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_NOT_SQLITE')
})

test('a -wal file is HOTSWAP_ERR_NOT_SQLITE and says it is a -wal file', (t) => {
  const file = path.join(tempDir(t), 'w.sqlite3')
  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.exec('CREATE TABLE t (x)')
    db.exec("INSERT INTO t VALUES ('row')")
    // The connection stays open, so the -wal still holds the frames.
    const wal = fs.readFileSync(file + '-wal')
    assert.ok(wal.length > 32)
    const result = check(wal)
    assert.ok(!result.ok)
    assert.equal(result.code, 'HOTSWAP_ERR_NOT_SQLITE')
    assert.match(result.message, /-wal file, not a database/)
  } finally {
    db.close()
  }
})

test('a file missing its last page is HOTSWAP_ERR_TRUNCATED with both sizes', (t) => {
  const bytes = makeDb(path.join(tempDir(t), 'a.sqlite3'))
  const cut = bytes.subarray(0, bytes.length - 4096)
  const result = check(cut)
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_TRUNCATED')
  const pages = bytes.length / 4096
  assert.equal(result.message,
    `file is ${cut.length} bytes but its header says ${pages} pages of 4096 bytes (${bytes.length})`)
})

test('a file cut inside its last page is HOTSWAP_ERR_TRUNCATED', (t) => {
  const bytes = makeDb(path.join(tempDir(t), 'a.sqlite3'))
  const result = check(bytes.subarray(0, bytes.length - 100))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_TRUNCATED')
})

test('bytes appended after the last page are HOTSWAP_ERR_TRUNCATED', (t) => {
  const bytes = makeDb(path.join(tempDir(t), 'a.sqlite3'))
  for (const extra of [1, 4096]) {
    const result = check(Buffer.concat([bytes, Buffer.alloc(extra)]))
    assert.ok(!result.ok, `${extra} extra bytes`)
    assert.equal(result.code, 'HOTSWAP_ERR_TRUNCATED')
  }
})

test('a page size that is not a power of two in 512..65536 is HOTSWAP_ERR_NOT_SQLITE', (t) => {
  const bytes = makeDb(path.join(tempDir(t), 'a.sqlite3'))
  for (const bad of [0, 256, 1000, 4097]) {
    const copy = Buffer.from(bytes)
    copy.writeUInt16BE(bad, 16)
    const result = check(copy)
    assert.ok(!result.ok, `page size ${bad}`)
    assert.equal(result.code, 'HOTSWAP_ERR_NOT_SQLITE')
    assert.match(result.message, /page size/)
  }
})

test('page size 1 stands for 65536', () => {
  const head = Buffer.alloc(100)
  Buffer.from('SQLite format 3\0', 'latin1').copy(head)
  head.writeUInt16BE(1, 16)
  head.writeUInt32BE(7, 24)
  head.writeUInt32BE(2, 28)
  head.writeUInt32BE(7, 92)
  const result = checkHeader(head, 2 * 65536)
  assert.ok(result.ok)
  assert.equal(result.value.pageSize, 65536)
  assert.equal(result.value.pageCount, 2)
})

test('without a valid in-header page count, the size must be a whole number of pages', (t) => {
  const bytes = Buffer.from(makeDb(path.join(tempDir(t), 'a.sqlite3')))
  // A change counter that differs from version-valid-for marks the page count as stale, as
  // SQLite before 3.7.0 left it.
  bytes.writeUInt32BE(bytes.readUInt32BE(92) + 1, 24)
  bytes.writeUInt32BE(1, 28)
  const whole = check(bytes)
  assert.ok(whole.ok)
  assert.equal(whole.value.pageCount, bytes.length / 4096)
  const cut = check(bytes.subarray(0, bytes.length - 100))
  assert.ok(!cut.ok)
  assert.equal(cut.code, 'HOTSWAP_ERR_TRUNCATED')
})
