// An iterator left unfinished (a streaming response whose client went away:
// `stmt.iterate()` not run to its end) kept its connection busy, so the next push failed with
// `INTERNAL … busy executing a query` and the worker dropped the connection without closing it:
// it stayed open on the old file, whose disk space stayed allocated until the worker restarted.
// Now the pause ends the iterators that no request in flight owns (the drain is over) and the
// push goes through; a busy statement it cannot end (on the raw db.connection) refuses the swap
// with HOTSWAP_ERR_DB_BUSY naming the worker; no connection is ever left on a replaced file.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, cli, countLogs, fixture, labelOf, pushable, report, request, type Served, serveLiveForFile, tempDir, underLoad } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, app: fixture('stream-app.mjs'), rows: 50 }, (s) => { ({ t, served, live } = s) })

/** Descriptors a process holds on a deleted file named like the live database (or its -wal). */
function deletedFds (pid: number): string[] {
  const dir = `/proc/${pid}/fd`
  return readdirSync(dir).flatMap((fd) => {
    try {
      const target = readlinkSync(join(dir, fd))
      return target.includes('live.sqlite3') && target.endsWith('(deleted)') ? [target] : []
    } catch { return [] }
  })
}

/** Fresh connections until `n` distinct workers answered `path`; returns their pids. */
async function onWorkers (path: string, n: number): Promise<number[]> {
  const pids = new Set<number>()
  for (let i = 0; i < 100 && pids.size < n; i++) {
    const res = await request(served.port, path, { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    pids.add(Number(res.json().pid))
  }
  assert.equal(pids.size, n, `${path} reached ${n} worker(s)`)
  return [...pids]
}

const candidate = (label: string): string => pushable(t.dir, label, 50).path

test('iterators left unfinished by finished requests are ended at the pause: the push goes through, nothing stays on the old file', async (tt) => {
  const pids = await onWorkers('/abandon', 2)
  await onWorkers('/iterate-break', 2) // A for...of left by break returns its iterator: not ended by the pause.
  const warned0 = countLogs(served, /closed \d+ unfinished iterator\(s\)/)
  const { result: res, load } = await underLoad(served.port, { paths: ['/label'] }, async () => await cli(['cp', candidate('v1'), 'live', '--socket', served.socket], { cwd: t.dir }))
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(labelOf(live), 'v1')
  assert.ok(countLogs(served, /closed \d+ unfinished iterator\(s\) on database "live" for the swap: "SELECT id, name FROM items ORDER BY id"/) >= warned0 + 2,
    'each worker says which iterator it ended')
  assert.equal(countLogs(served, /unfinished iterator\(s\).*WHERE id > 0/), 0, 'an iterator closed by break is not left over')
  const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: ['v1'] })
  assert.equal(label, 'v1')
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  for (const pid of pids) assert.deepEqual(deletedFds(pid), [], `worker ${pid} holds nothing on the replaced file`)

  // An ended iterator does not pretend its rows ran out: next() says why it stopped.
  const cont = await request(served.port, '/continue', { keepAlive: false })
  assert.equal(cont.status, 500, cont.body)
  assert.equal(cont.json().code, 'HOTSWAP_ERR_PAUSED')
  assert.match(String(cont.json().error), /was left unfinished and ended when database "live" was closed for a swap/)

  // The route works again on the new file (its statement was not left busy), and a second push too.
  await onWorkers('/abandon', 2)
  const again = await cli(['cp', candidate('v2'), 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(labelOf(live), 'v2')
  for (const pid of pids) assert.deepEqual(deletedFds(pid), [], `worker ${pid} holds nothing on the replaced file`)
  tt.diagnostic(`2 pushes over abandoned iterators in both workers went through; load ${load.summary()}`)
  report(tt, 'abandoned iterator ended at the pause', { faults: 2, survived: 2, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

test('a busy statement the pause cannot end (the raw connection) refuses the swap naming the worker; the connection stays in use', async () => {
  const [pid] = await onWorkers('/abandon-raw', 1)
  const before = labelOf(live)
  const res = await cli(['cp', candidate('v3'), 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr.split('\n')[0] ?? '',
    new RegExp(`^ERROR \\[HOTSWAP_ERR_DB_BUSY\\] worker \\d+ \\(pid ${String(pid)}\\): database "live" cannot be closed for the swap: a statement is still running`))
  assert.equal(res.stdout.toString(), '')
  assert.equal(labelOf(live), before, 'nothing was swapped')
  const { label } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [before] })
  assert.equal(label, before)
  assert.deepEqual(deletedFds(pid as number), [])
  // The refused worker had run its onPause hooks: its onResume hooks ran too (what onPause tore
  // down, a pool or a cache, is set up again).
  for (let i = 0; i < 20; i++) {
    const r = await request(served.port, '/label', { keepAlive: false })
    assert.equal(r.json().hooks, 'resumed', `worker ${String(r.json().pid)} ran its onResume hooks after the refused pause`)
  }
})
