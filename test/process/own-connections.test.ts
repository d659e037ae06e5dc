// Connections a worker holds that the swap cannot see from outside it. The
// primary's /proc scan leaves the workers out (their managed connections are open until the
// pause), so a `new Database(path)` inside the app kept the unlinked old file: `cp` printed OK,
// that connection went on reading old data and its writes vanished. Now each worker scans its
// own descriptors once its managed connections are closed, and the swap is refused naming it
// (HOTSWAP_ERR_DB_BUSY), or forced. An ATTACHed managed database is closed and reopened with the
// database it is attached to, and the attachment survives a swap of either file.
// Fixture: test/fixtures/own-connection-app.mjs (app, and cache attached on app's connection).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { realpathSync } from 'node:fs'
import { cli, fixture, labelOf, load, pushable, report, request, seedAll, type Served, serveForFile, startServe, statusJson, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let app: string
let cache: string
let n = 0

serveForFile(async (t) => {
  ;({ app, cache } = seedAll(t.dir, { app: 'app-0', cache: 'cache-0' }))
  return await startServe({ dir: t.dir, dbs: [app, `cache=${cache}`], workers: 2, app: fixture('own-connection-app.mjs') })
}, (s) => { ({ t, served } = s) })

/** A new file with the same schema and a fresh label. */
const candidate = (what: string): { path: string, label: string } => pushable(t.dir, `${what}-${++n}`)

async function push (src: string, dst: string, extra: string[] = []): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const res = await cli(['cp', src, dst, '--socket', served.socket, ...extra], { cwd: t.dir })
  return { code: res.code, stdout: res.stdout.toString(), stderr: res.stderr }
}

/** Asks on fresh connections until both workers answered; returns every body. */
async function everyWorker (path: string): Promise<Array<{ status: number, body: Record<string, unknown> }>> {
  const seen = new Map<unknown, { status: number, body: Record<string, unknown> }>()
  for (let i = 0; i < 60 && seen.size < 2; i++) {
    const res = await request(served.port, path, { keepAlive: false })
    const body = res.json()
    seen.set(body.pid, { status: res.status, body })
  }
  assert.equal(seen.size, 2, `both workers answered ${path}`)
  return [...seen.values()]
}

/** Closes the connection of its own in whichever worker opened it. */
async function closeOwn (): Promise<void> {
  await waitUntil('the worker holding its own connection to close it',
    async () => (await request(served.port, '/own/close', { keepAlive: false })).json().closed === true)
}

async function workerId (pid: unknown): Promise<number> {
  const w = (await statusJson(served.socket, t.dir)).workers.find((x) => x.pid === pid)
  assert.ok(w !== undefined, `worker with pid ${String(pid)} in status`)
  return w.id
}

/**
 * Pushes `c` to `db` while 4 requests at a time go to `paths`, each of which must see `old` or
 * c's label: the load fails nothing. `what` words the diagnostic, `kind` names the reliability tally.
 */
async function pushUnderLoad (tt: { diagnostic: (m: string) => void }, db: 'app' | 'cache', c: { path: string, label: string }, old: string,
  paths: string[], what: string, kind: string): Promise<Awaited<ReturnType<typeof push>>> {
  const traffic = load(served.port, { paths, concurrency: 4, check: (_p, b) => b.label === old || b.label === c.label ? null : `label ${String(b.label)}` })
  try {
    return await push(c.path, db)
  } finally {
    const stats = await traffic.stop()
    assert.equal(stats.failed, 0, stats.errors.join('\n'))
    assert.equal(stats.bad, 0, stats.badBodies.join('\n'))
    tt.diagnostic(`${what}: ${stats.ok} ok, ${stats.failed} failed`)
    report(tt, kind, { faults: 1, survived: stats.failed === 0 ? 1 : 0, lost: 0, tempLeft: 0, requestsOk: stats.ok, requestsFailed: stats.failed })
  }
}

/**
 * Opens a connection outside the managed ones (`openPath`, on `db`'s file) and pushes a new file
 * to `db`: refused, naming the worker that holds the file, and the live file unchanged.
 */
async function refusedWhileOpen (db: 'app' | 'cache', openPath: string): Promise<{ old: string, c: { path: string, label: string } }> {
  const file = db === 'app' ? app : cache
  const old = labelOf(file)
  const opened = (await request(served.port, openPath, { keepAlive: false })).json()
  assert.equal(opened.label, old)
  const id = await workerId(opened.pid)
  const c = candidate(db)
  const refused = await push(c.path, db)
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_DB_BUSY\\] worker ${id} \\(pid ${String(opened.pid)}\\) has .*${db}\\.sqlite3 open`))
  assert.equal(labelOf(file), old)
  return { old, c }
}

test('db.connection kept across requests fails loudly after a swap; it never reads the old file', async () => {
  for (const { status, body } of await everyWorker('/raw/label')) assert.equal(status, 200, JSON.stringify(body))
  const c = candidate('app')
  const res = await push(c.path, 'app')
  assert.equal(res.code, 0, res.stderr)
  // Slot.pause closed the raw connection with the handle: a kept reference throws, never serves old data.
  for (const { status, body } of await everyWorker('/raw/label')) {
    assert.equal(status, 500, JSON.stringify(body))
    assert.match(String(body.error), /not open/)
  }
  for (const { body } of await everyWorker('/label')) assert.equal(body.label, c.label)
})

test('a connection the app opened itself on the live file: the push is refused naming the worker; --force swaps', async (tt) => {
  const old = labelOf(app)
  const opened = (await request(served.port, '/own/open?db=app', { keepAlive: false })).json()
  assert.equal(opened.label, old)
  const id = await workerId(opened.pid)
  const c = candidate('app')

  const refused = await pushUnderLoad(tt, 'app', c, old, ['/label'], 'load through the refused push',
    'a connection the app opened itself (refused naming the worker, then --force)')
  assert.equal(refused.code, 1, refused.stderr)
  assert.equal(refused.stdout, '')
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_DB_BUSY\] /)
  assert.match(refused.stderr, new RegExp(`worker ${id} \\(pid ${String(opened.pid)}\\) has ${realpathSync(app).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} open through a connection of its own`))
  assert.match(refused.stderr, /--force/)
  // Nothing changed, and every worker still serves the live data.
  assert.equal(labelOf(app), old)
  for (const { status, body } of await everyWorker('/label')) {
    assert.equal(status, 200)
    assert.equal(body.label, old)
  }

  const forced = await push(c.path, 'app', ['--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(forced.stdout, 'OK\n')
  assert.equal(labelOf(app), c.label)
  for (const { body } of await everyWorker('/label')) assert.equal(body.label, c.label)
  await served.waitForLog(/--force: swapping although worker \d+ \(pid \d+\) has .* open through a connection of its own/)
  // What --force costs, as the README says: that connection still reads the old file.
  let ownView: unknown
  await waitUntil('the own connection to answer', async () => {
    const res = await request(served.port, '/own/label', { keepAlive: false })
    if (res.status !== 200) return false
    ownView = res.json().label
    return true
  })
  assert.equal(ownView, old, 'the connection of its own keeps the old file')
  await closeOwn()

  // Once it is closed, pushes go through again.
  const next = candidate('app')
  const again = await push(next.path, 'app')
  assert.equal(again.code, 0, again.stderr)
  assert.equal(labelOf(app), next.label)
})

test('a connection of its own that ATTACHes a managed file is refused too', async () => {
  const { old } = await refusedWhileOpen('cache', '/own/open?db=cache&attach=1')
  for (const { body } of await everyWorker('/cache/label')) assert.equal(body.label, old)
  await closeOwn()
})

test("knex's own better-sqlite3 pool on a managed file (a module that forgot knexPool()) is refused", async () => {
  const { c } = await refusedWhileOpen('app', '/knex/open')
  await waitUntil('the worker holding knex to destroy it',
    async () => (await request(served.port, '/knex/close', { keepAlive: false })).json().closed === true)
  const again = await push(c.path, 'app')
  assert.equal(again.code, 0, again.stderr)
})

test('a push to a database ATTACHed on another managed connection reopens that connection on the new file', async (tt) => {
  const old = labelOf(cache)
  for (const { body } of await everyWorker('/attached/label')) assert.equal(body.label, old)
  const c = candidate('cache')
  const res = await pushUnderLoad(tt, 'cache', c, old, ['/attached/label', '/cache/label'], 'load through the push to the attached database',
    'a push to a database ATTACHed on another managed connection (reopened with it)')
  assert.equal(res.code, 0, res.stderr)
  assert.equal(labelOf(cache), c.label)
  for (const { status, body } of await everyWorker('/attached/label')) {
    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.label, c.label, 'the attaching connection reads the new file, not the unlinked old one')
  }
  for (const { body } of await everyWorker('/cache/label')) assert.equal(body.label, c.label)
})

test('an ATTACH made with exec() survives a swap of the attaching database', async () => {
  const cacheLabel = labelOf(cache)
  const c = candidate('app')
  const res = await push(c.path, 'app')
  assert.equal(res.code, 0, res.stderr)
  for (const { status, body } of await everyWorker('/attached/label')) {
    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.label, cacheLabel)
  }
  for (const { body } of await everyWorker('/label')) assert.equal(body.label, c.label)
})
