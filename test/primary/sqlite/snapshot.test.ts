// The snapshot and readSourceThroughSqlite tasks, with outside writers as real child processes.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { readSourceThroughSqlite, snapshot } from '../../../src/primary/sqlite/snapshot.js'
import { child, integrity, killChild, makeDb, names, rows, sideFiles, tempDir } from './support.js'

test('snapshot is consistent while an outside process keeps committing', async (t) => {
  const dir = tempDir(t)
  const live = makeDb(path.join(dir, 'app.sqlite3'), { wal: true, rows: rows('y'.repeat(200), 20000) })
  const writer = await child(t, live, `
    const db = new Database(file)
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
    let n = 0
    const tick = () => {
      insert.run('written-' + n)
      n++
      if (n === 100) process.stdout.write('ready\\n')
      setImmediate(tick)
    }
    tick()
  `)
  const before = names(live).length
  const dest = path.join(dir, 'snapshot.sqlite3')
  const result = snapshot({ livePath: live, destPath: dest })
  assert.ok(result.ok, JSON.stringify(result))
  await killChild(writer)
  const after = names(live).length

  assert.equal(result.value.bytes, fs.statSync(dest).size)
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600)
  assert.deepEqual(integrity(dest), ['ok'])
  const db = new Database(dest, { readonly: true })
  const { count, max } = db.prepare('SELECT count(*) AS count, max(id) AS max FROM items').get() as { count: number, max: number }
  db.close()
  assert.ok(count >= before, `snapshot has ${count} rows, ${before} were committed before it`)
  assert.equal(count, max, 'no gaps: every committed row up to the snapshot is there')
  assert.ok(after > before, 'the writer kept committing')
  assert.deepEqual(sideFiles(dest), [])
})

test('snapshot refuses an existing destination and cleans up after an unreadable source', (t) => {
  const dir = tempDir(t)
  const live = makeDb(path.join(dir, 'app.sqlite3'))
  const existing = path.join(dir, 'existing')
  fs.writeFileSync(existing, 'keep me')
  const refused = snapshot({ livePath: live, destPath: existing })
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DESTINATION')
  assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me')

  const junk = path.join(dir, 'junk')
  fs.writeFileSync(junk, randomBytes(8192))
  const dest = path.join(dir, 'out')
  const bad = snapshot({ livePath: junk, destPath: dest })
  assert.ok(!bad.ok)
  assert.equal(bad.code, 'HOTSWAP_ERR_SOURCE')
  assert.equal(fs.existsSync(dest), false)
})

test('readSourceThroughSqlite keeps the committed rows a raw copy of a WAL source loses', async (t) => {
  const dir = tempDir(t)
  const src = makeDb(path.join(dir, 'local.sqlite3'), { wal: true, rows: rows('base', 2) })
  // The writer is another process: copying a file with fs here would drop the POSIX locks of
  // any connection this process held on it.
  const writer = await child(t, src, `
    const db = new Database(file)
    db.pragma('wal_autocheckpoint = 0')
    db.prepare('INSERT INTO items (name) VALUES (?)').run('in-wal')
    process.stdout.write('ready\\n')
  `)
  await killChild(writer)

  const raw = path.join(dir, 'raw.sqlite3')
  fs.copyFileSync(src, raw)
  assert.deepEqual(names(raw), ['base-0', 'base-1'], 'a raw copy misses the row in the -wal')

  const dest = path.join(dir, 'through.sqlite3')
  const result = readSourceThroughSqlite({ srcPath: src, destPath: dest })
  assert.ok(result.ok, JSON.stringify(result))
  assert.deepEqual(names(dest), ['base-0', 'base-1', 'in-wal'])
  assert.deepEqual(sideFiles(dest), [])
})
