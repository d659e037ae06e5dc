// The findHolders task (the /proc fd scan), with a real outside process holding the file.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import Database from 'better-sqlite3'
import { findHolders } from '../../../src/primary/sqlite/holders.js'
import { child, makeDb, tempDir } from './support.js'

test('findHolders finds an outside process that has the database open, and skips excluded pids', async (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true })
  // Opened and queried once, then idle: no lock or checkpoint reveals this process.
  const proc = await child(t, live, `
    const db = new Database(file)
    db.prepare('SELECT count(*) FROM items').get()
    process.stdout.write('ready\\n')
  `)
  // This process holds the file open too, and is never reported.
  const own = new Database(live, { readonly: true })
  t.after(() => { own.close() })

  const found = findHolders({ paths: [live], excludePids: [] })
  assert.ok(found.ok, JSON.stringify(found))
  const holders = found.value
  if (process.platform !== 'linux') {
    assert.deepEqual(holders, [])
    return
  }
  const mine = holders.filter((h) => h.pid === proc.pid)
  assert.ok(mine.some((h) => h.path === live), JSON.stringify(holders))
  assert.ok(mine.some((h) => h.path === live + '-wal'), JSON.stringify(holders))
  assert.ok(mine.every((h) => h.command.startsWith(process.execPath) && h.command.length <= 120))
  assert.ok(holders.every((h) => h.pid !== process.pid))

  const excluded = findHolders({ paths: [live], excludePids: [proc.pid ?? -1] })
  assert.ok(excluded.ok, JSON.stringify(excluded))
  assert.deepEqual(excluded.value.filter((h) => h.pid === proc.pid), [])
  assert.deepEqual(findHolders({ paths: [path.join(dir, 'other.sqlite3')], excludePids: [] }), { ok: true, value: [] })
})
