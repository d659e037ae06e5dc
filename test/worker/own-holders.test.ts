// ownHolders (src/worker/own-holders.ts): which of this process's descriptors reach a database
// or its side files, read from /proc/self/fd with readlink only. In-process on real SQLite
// files, among a few hundred unrelated descriptors (what a busy worker has open).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { ownHolders } from '../../src/worker/own-holders.js'

type TestContext = { after: (fn: () => void) => void, diagnostic: (m: string) => void }

function tempDir (t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotswap-own-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function walDb (file: string): void {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (x)')
  db.close()
}

/** Opens `n` unrelated descriptors, closed when the test ends. */
function noise (t: TestContext, n: number): void {
  const fds = Array.from({ length: n }, () => fs.openSync('/dev/null', 'r'))
  t.after(() => { for (const fd of fds) fs.closeSync(fd) })
}

test('finds a connection on the database and its -wal/-shm, through a symlinked directory, among 300 other descriptors', (t) => {
  const dir = tempDir(t)
  const real = path.join(dir, 'real')
  fs.mkdirSync(real)
  fs.symlinkSync(real, path.join(dir, 'link'))
  const live = path.join(real, 'live.sqlite3')
  walDb(live)
  walDb(path.join(real, 'other.sqlite3'))
  noise(t, 300)
  const viaLink = path.join(dir, 'link', 'live.sqlite3')

  assert.deepEqual(ownHolders([viaLink]), [], 'nothing open yet')
  const other = new Database(path.join(real, 'other.sqlite3'))
  other.prepare('SELECT count(*) FROM t').get()
  const conn = new Database(live)
  t.after(() => { conn.close(); other.close() })
  assert.deepEqual(ownHolders([viaLink]), [live], 'opened, not queried yet: the database file only')
  conn.prepare('SELECT count(*) FROM t').get()
  assert.deepEqual(ownHolders([viaLink]).sort(), [live, `${live}-shm`, `${live}-wal`])

  // Measured, not asserted (timings are flaky on a shared machine): the scan runs inside the pause.
  const times = Array.from({ length: 200 }, () => {
    const started = performance.now()
    ownHolders([viaLink])
    return performance.now() - started
  }).sort((x, y) => x - y)
  const at = (q: number): string => (times[Math.floor(q * (times.length - 1))] as number).toFixed(3)
  t.diagnostic(`ownHolders over ${fs.readdirSync('/proc/self/fd').length} descriptors: median ${at(0.5)} ms, p95 ${at(0.95)} ms per scan`)
})

test('an attached database counts; the old file of an earlier swap counts as " (deleted)"; closed connections do not', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'live.sqlite3')
  walDb(live)
  const mem = new Database(':memory:')
  mem.prepare('ATTACH ? AS target').run(live)
  mem.prepare('SELECT count(*) FROM target.t').get()
  assert.ok(ownHolders([live]).includes(live), 'an ATTACH on a connection of its own')
  mem.close()
  assert.deepEqual(ownHolders([live]), [])

  const conn = new Database(live, { readonly: true })
  conn.prepare('SELECT count(*) FROM t').get()
  t.after(() => conn.close())
  const next = path.join(dir, 'next.sqlite3')
  walDb(next)
  fs.renameSync(next, live) // As the install does: the connection keeps the replaced file.
  assert.ok(ownHolders([live]).includes(`${live} (deleted)`), ownHolders([live]).join(', '))
})
