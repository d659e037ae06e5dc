// Shutdown is graceful: on SIGTERM in-flight requests finish, serve exits 0, the socket and the
// -wal are gone and the log file is flushed; --kill-timeout ends a drain that never ends and a
// worker that cannot hear "stop"; a second SIGTERM stops at once.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { countItems, isAlive, openRequest, request, statusJson, versionedServers, waitExit, waitUntil } from '../support/index.js'

const { project, serve, workersOf } = versionedServers()

test('SIGTERM: in-flight requests complete, exit 0, socket removed, -wal checkpointed away', async (t) => {
  const p = project()
  const mainDir = p.dir
  const live = p.live
  const logFile = join(mainDir, 'hotswap.log')
  const main = await serve({ dir: mainDir, dbs: [live], workers: 2, args: ['--log-file', logFile] })
  const seeded = countItems(live)
  for (let i = 0; i < 10; i++) assert.equal((await request(main.port, '/write?n=50')).status, 200)
  assert.ok(existsSync(`${live}-wal`) && statSync(`${live}-wal`).size > 0, 'the writes sit in the -wal while serving')
  const ws = await workersOf(main)

  // Long enough that polling with the real `status` CLI sees all four in flight at once.
  const slow = Array.from({ length: 4 }, () => openRequest(main.port, '/slow?ms=3000'))
  await waitUntil('4 slow requests in flight', async () => {
    const st = await statusJson(main.socket, mainDir)
    return st.workers.reduce((n, w) => n + (w.inFlight ?? 0), 0) >= 4
  })
  const t0 = Date.now()
  process.kill(main.pid, 'SIGTERM')
  const results = await Promise.all(slow.map(async (r) => await r.done))
  for (const r of results) {
    assert.ok(!(r instanceof Error), `an in-flight request failed: ${String(r)}`)
    assert.equal(r.status, 200)
  }
  const code = await waitExit(main)
  t.diagnostic(`serve exited ${Date.now() - t0} ms after SIGTERM`)
  assert.equal(code, 0)
  assert.equal(existsSync(main.socket), false, 'socket removed')
  for (const w of ws) assert.equal(isAlive(w.pid), false, `worker ${w.id} (pid ${w.pid}) is gone`)
  const wal = `${live}-wal`
  assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'no -wal left with frames in it')
  assert.equal(countItems(live), seeded + 500, 'every committed write is in the main file')
  assert.ok(main.logs().some((l) => l.role === 'primary' && l.message === 'SIGTERM: shutting down'))
  assert.ok(main.logs().some((l) => l.role === 'primary' && l.message === 'stopped'))
  // The file logger is flushed before exit: the last line made it into the file.
  const last = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.ok(last.some((l) => l.message === 'stopped'), 'the log file ends with the shutdown')
})

test('the kill timeout: a drain that never ends and a worker that cannot hear "stop" both end; serve exits 0', async (t) => {
  const [hang, block] = await Promise.all([project(), project()].map(async (p) => await serve({ dir: p.dir, dbs: [p.live], workers: 1, args: ['--kill-timeout', '500'] })))
  assert.ok(hang !== undefined && block !== undefined)
  const [hangWorker] = await workersOf(hang)
  const [blockWorker] = await workersOf(block)
  assert.ok(hangWorker !== undefined && blockWorker !== undefined)

  // A request that never ends: the worker's drain gives up after --kill-timeout.
  const hung = openRequest(hang.port, '/hang')
  await waitUntil('the /hang request in flight', async () => (await workersOf(hang))[0]?.state === 'ready' &&
    (await statusJson(hang.socket, hang.dir)).workers[0]?.inFlight === 1)
  // A worker whose event loop is blocked never answers the shutdown request: SIGKILL.
  const blocked = openRequest(block.port, '/block')
  assert.equal(await blocked.headers, 200)

  const t0 = Date.now()
  process.kill(hang.pid, 'SIGTERM')
  process.kill(block.pid, 'SIGTERM')
  const [hangCode, blockCode] = await Promise.all([waitExit(hang, 15_000), waitExit(block, 15_000)])
  t.diagnostic(`with --kill-timeout 500: serve exited after ${Date.now() - t0} ms (both)`)
  assert.equal(hangCode, 0)
  assert.equal(blockCode, 0)
  assert.equal(isAlive(hangWorker.pid), false)
  assert.equal(isAlive(blockWorker.pid), false)
  assert.ok(await hung.done instanceof Error, 'the request that never ends is cut off')
  assert.ok(await blocked.done instanceof Error, 'the blocked request is cut off')
  assert.ok(hang.logs().some((l) => l.role === 'worker 1' && /^shutdown: /.test(String(l.message))), `the worker says its drain timed out:\n${hang.output().slice(-2000)}`)
  assert.ok(block.logs().some((l) => l.role === 'supervisor' && l.message === `worker 1 (pid ${blockWorker.pid}) did not stop within 500 ms; killing it`),
    `the supervisor says it killed the worker:\n${block.output().slice(-2000)}`)
  assert.equal(existsSync(hang.socket), false)
  assert.equal(existsSync(block.socket), false)
})

test('a second SIGTERM stops at once, without waiting for the drain', async () => {
  const p = project()
  const s = await serve({ dir: p.dir, dbs: [p.live], workers: 1 })
  const [w] = await workersOf(s)
  assert.ok(w !== undefined)
  const hung = openRequest(s.port, '/hang')
  await waitUntil('the /hang request in flight', async () => (await statusJson(s.socket, s.dir)).workers[0]?.inFlight === 1)
  process.kill(s.pid, 'SIGTERM')
  await s.waitForLog(/^SIGTERM: shutting down$/)
  process.kill(s.pid, 'SIGTERM')
  const code = await waitExit(s)
  assert.equal(code, 1)
  assert.ok(s.logs().some((l) => l.message === 'SIGTERM again: stopping at once'))
  await waitUntil(`worker pid ${w.pid} to be gone`, () => !isAlive(w.pid), 5000)
  assert.ok(await hung.done instanceof Error)
})
