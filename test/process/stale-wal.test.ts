// The stale-WAL hazard end to end (DESIGN.md, "SQLite hazards"): a -wal left beside the live
// path by a crashed outside writer is applied by SQLite to whatever file is renamed in. A push
// must serve exactly the new file: its label, its row count, none of the old WAL's rows.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, fixture, inspect, leftovers, request, seed, type Served, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let lazy: Served | undefined
let live: string
const writers = new Set<ChildProcess>()

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v1', rows: 10 })
  served = await startServe({ dir: t.dir, dbs: [live], workers: 2 })
})

after(async () => {
  for (const w of writers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL')
  const lazyCode = await lazy?.stop()
  const code = await served?.stop()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
  if (lazy !== undefined) assert.equal(lazyCode, 0)
  t?.cleanup()
})

/** Starts the outside writer and waits until its rows are committed (in the -wal only). */
async function startWriter (label: string, rows: number, path = live): Promise<{ child: ChildProcess, walBytes: number }> {
  const child = spawn(process.execPath, [fixture('wal-writer.mjs'), path, label, String(rows)], { stdio: ['ignore', 'pipe', 'pipe'] })
  writers.add(child)
  let out = ''
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
  const walBytes = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /ready (\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`the writer exited (${String(code)}): ${err}`)))
  })
  return { child, walBytes }
}

async function kill (child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
  writers.delete(child)
}

/** What the server serves: label and row count, read in one request, on fresh connections. */
async function servedState (): Promise<Array<{ label: unknown, count: unknown, pid?: unknown }>> {
  const out = []
  for (let i = 0; i < 8; i++) {
    const res = await request(served.port, '/torn?ms=0', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    const b = res.json()
    assert.equal(b.first, b.second)
    assert.equal(b.firstCount, b.secondCount)
    out.push({ label: b.first, count: b.firstCount })
  }
  return out
}

/** The live file as SQLite sees it, read outside the server and closed at once. */
function inspectLive (): { integrity: string[], label: string, count: number, stale: number } {
  return inspect(live, (db) => ({ stale: db.prepare("SELECT count(*) FROM items WHERE name LIKE 'stale-%'").pluck().get() as number }))
}

test('a crashed outside writer leaves frames in the -wal; a push serves exactly the new file', async (tt) => {
  assert.equal((await request(served.port, '/label')).json().label, 'v1')

  const { child, walBytes } = await startWriter('stale-wal', 500)
  assert.ok(walBytes > 0, 'the writer\'s frames are in the -wal')
  // The frames are committed: the workers read through them.
  for (const s of await servedState()) assert.deepEqual(s, { label: 'stale-wal', count: 510 })
  await kill(child)
  assert.ok(statSync(`${live}-wal`).size > 0, 'a crash leaves the -wal in place')

  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v2', rows: 37 })

  // Control: the hazard is real for this very -wal. A plain rename of the new file beside a
  // copy of it reads as the old writer's data (or as a corrupt file), not as v2.
  const scratch = join(t.dir, 'scratch')
  mkdirSync(scratch)
  const naive = join(scratch, 'live.sqlite3')
  copyFileSync(next, naive)
  copyFileSync(`${live}-wal`, `${naive}-wal`)
  let naiveRead: string
  try {
    const db = new Database(naive, { readonly: true })
    try {
      naiveRead = String(db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck().get())
    } finally {
      db.close()
    }
  } catch (err) {
    naiveRead = `error: ${(err as Error).message}`
  }
  tt.diagnostic(`a plain rename beside the stale -wal reads: ${naiveRead}`)
  assert.notEqual(naiveRead, 'v2', 'the stale -wal would have been replayed over a plain rename')

  const res = await cli(['cp', next, live, '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(res.stderr, '')

  for (const s of await servedState()) assert.deepEqual(s, { label: 'v2', count: 37 })
  const got = inspectLive()
  assert.deepEqual(got.integrity, ['ok'])
  assert.equal(got.label, 'v2')
  assert.equal(got.count, 37)
  assert.equal(got.stale, 0, 'no row of the old -wal appears in the new file')

  // The new file takes writes as usual.
  const w = await request(served.port, '/write', { keepAlive: false })
  assert.equal(w.status, 200, w.body)
  assert.deepEqual(w.json(), { label: 'v2', count: 38 })
})

test('an outside process holding uncheckpointed frames: refused with DB_BUSY, and with --force the new file is served clean', async () => {
  const { child, walBytes } = await startWriter('stale-wal-2', 300)
  assert.ok(walBytes > 0)
  for (const s of await servedState()) assert.deepEqual(s, { label: 'stale-wal-2', count: 338 })

  const next = join(t.dir, 'next3.sqlite3')
  seed(next, { label: 'v3', rows: 23 })

  // While it runs, the swap is refused and nothing changes.
  const refused = await cli(['cp', next, live, '--socket', served.socket], { cwd: t.dir })
  assert.equal(refused.code, 1, refused.stderr + served.output().slice(-3000))
  assert.equal(refused.stdout.toString(), '')
  assert.match(refused.stderr, /HOTSWAP_ERR_DB_BUSY/)
  assert.match(refused.stderr, new RegExp(`pid ${String(child.pid)}`))
  for (const s of await servedState()) assert.deepEqual(s, { label: 'stale-wal-2', count: 338 })

  // With --force, our workers are not the last connection, so their close leaves the -wal
  // with the outside writer's frames; the install must make them inapplicable to the new file.
  const forced = await cli(['cp', next, live, '--force', '--socket', served.socket], { cwd: t.dir })
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(forced.stdout.toString(), 'OK\n')
  await kill(child)

  for (const s of await servedState()) assert.deepEqual(s, { label: 'v3', count: 23 })
  const got = inspectLive()
  assert.deepEqual(got.integrity, ['ok'])
  assert.equal(got.label, 'v3')
  assert.equal(got.count, 23)
  assert.equal(got.stale, 0)
  assert.equal(existsSync(`${live}-journal`), false)
})

test('no worker has the file open: the stale frames reach the install, which keeps them out of the new file', async () => {
  // With the app's connections open, the last worker to close checkpoints the -wal itself.
  // Here no worker has opened the database yet, so the crashed writer's frames are still in
  // the -wal when the install runs: only its TRUNCATE checkpoint and cleanup stand between
  // them and the renamed-in file.
  const dir = join(t.dir, 'lazy')
  mkdirSync(dir)
  const path = join(dir, 'live.sqlite3')
  seed(path, { label: 'l1', rows: 10 })
  lazy = await startServe({ dir, dbs: [path], app: fixture('lazy-app.mjs'), workers: 2 })
  const { child, walBytes } = await startWriter('stale-wal-3', 400, path)
  assert.ok(walBytes > 0)
  await kill(child)
  assert.ok(statSync(`${path}-wal`).size > 0, 'the crashed writer\'s frames are in the -wal')

  const next = join(dir, 'next.sqlite3')
  seed(next, { label: 'l2', rows: 19 })
  const res = await cli(['cp', next, 'live', '--socket', lazy.socket], { cwd: dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')

  for (let i = 0; i < 8; i++) {
    const r = await request(lazy.port, '/', { keepAlive: false })
    assert.equal(r.status, 200, r.body)
    assert.deepEqual(r.json(), { label: 'l2', count: 19, stale: 0 })
  }
  const db = new Database(path, { fileMustExist: true })
  try {
    assert.deepEqual(db.prepare('PRAGMA integrity_check').pluck().all(), ['ok'])
    assert.equal(db.prepare("SELECT count(*) FROM items WHERE name LIKE 'stale-%'").pluck().get(), 0)
  } finally {
    db.close()
  }
  // The link to the old file goes just after resume; nothing else is left beside the live one.
  for (let i = 0; leftovers(dir).length > 0; i++) {
    assert.ok(i < 100, `left beside the live file: ${readdirSync(dir).join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
})
