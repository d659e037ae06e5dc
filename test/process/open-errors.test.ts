// An open that fails names the file, in development and under serve: better-sqlite3 says only
// "unable to open database file" or "Cannot open database because the directory does not
// exist". The error keeps its class and code (SqliteError SQLITE_CANTOPEN, TypeError).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, mkdirSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { fixture, request, seed, startNodeApp, startServe, testDir } from '../support/index.js'

const escape = (s: string): string => s.replace(/[.]/g, '\\.')

test('outside serve, a missing directory: the app stops with better-sqlite3\'s TypeError, now naming the path', async (t) => {
  const dir = testDir(t)
  const node = await startNodeApp(fixture('dev-app.mjs'), { cwd: dir })
  t.after(async () => { await node.stop() })
  assert.equal(await node.exited, 1)
  const file = join(dir, 'db', 'new.sqlite3')
  assert.match(node.output(), new RegExp(`TypeError: Cannot open database because the directory does not exist: ${escape(file)}\n`))
})

test('under serve, a managed file gone before the app opened it: SQLITE_CANTOPEN naming the path, never an empty file made', async (t) => {
  const dir = testDir(t)
  const live = join(dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  const served = await startServe({ dir, dbs: [live], app: fixture('lazy-app.mjs'), workers: 1 })
  t.after(async () => { await served.stop() })
  unlinkSync(live) // lazy-app opens its database at the first request
  const res = await request(served.port, '/', { keepAlive: false })
  assert.equal(res.status, 500, res.body)
  assert.deepEqual(res.json(), { error: `unable to open database file: ${live} (no such file)`, code: 'SQLITE_CANTOPEN' })
  assert.equal(await served.stop(), 0)
})

test('under serve, a managed file the server\'s user may not open: the error names the path and says permission denied', async (t) => {
  assert.equal(process.getuid?.(), 0, 'this test runs the server as nobody: it needs root (CI runs as root)')
  const NOBODY = 65534
  const top = testDir(t)
  chmodSync(top, 0o755)
  const dir = join(top, 'nobody')
  mkdirSync(dir)
  const live = join(dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  chownSync(dir, NOBODY, NOBODY)
  chownSync(live, NOBODY, NOBODY)
  const served = await startServe({ dir, dbs: [live], app: fixture('lazy-app.mjs'), workers: 1, as: { uid: NOBODY, gid: NOBODY } })
  t.after(async () => { await served.stop() })
  assert.equal(served.child.exitCode, null, served.output())
  chmodSync(live, 0o000)
  const res = await request(served.port, '/', { keepAlive: false })
  assert.equal(res.status, 500, res.body)
  assert.deepEqual(res.json(), { error: `unable to open database file: ${live} (permission denied: read and write access needed)`, code: 'SQLITE_CANTOPEN' })
  assert.equal(await served.stop(), 0)
})
