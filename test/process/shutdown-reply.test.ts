// SIGTERM while a push is paused. The swap finishes (the shutdown takes the
// swap lock after it), and its reply must reach the client before the connections close: the
// new database went live, but the client got OK, then CONNECTION_LOST, and exited 1, so a
// deploy script reported a failure for a swap that happened. An upload still arriving at the
// signal is refused with a reply, not cut.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, exchange, fixture, gemStream, integrity, labelOf, onLog, report, seed, type Served, serveLiveForFile, startServe, tempDir, waitExit, waitNoLeftovers } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), prepare: (s) => {
    ({ t, live } = s)
    // Every onResume hook waits 1 s: the swap is still under way well after the signal.
    writeFileSync(join(t.dir, 'resume-delay'), '1000')
  } }, (s) => { ({ t, served, live } = s) })

test('SIGTERM while a push is paused: the swap completes, cp prints OK and exits 0, serve exits 0', { timeout: 60_000 }, async (tt) => {
  const src = join(t.dir, 'new.sqlite3')
  seed(src, { label: 'pushed-before-shutdown' })
  const signalled = onLog(served, /^faults-app: paused/, () => { process.kill(served.pid, 'SIGTERM') })
  const pushed = cli(['cp', src, live, '--socket', served.socket], { cwd: t.dir })
  await signalled
  const r = await pushed
  assert.equal(r.stderr, '', 'no error printed')
  assert.equal(r.stdout.toString(), 'OK\n')
  assert.equal(r.code, 0, 'cp exits 0: the swap happened')
  assert.equal(await waitExit(served), 0, 'serve exits 0 on SIGTERM')
  assert.equal(labelOf(live), 'pushed-before-shutdown', 'the file holds the new data')
  assert.deepEqual(integrity(live), ['ok'])
  assert.deepEqual(await waitNoLeftovers(t.dir), [], 'no .hotswap- file left')
  report(tt, 'SIGTERM during a swap', { faults: 1, survived: 1, lost: 0, tempLeft: 0 })
})

test('SIGTERM during an upload: that client is told HOTSWAP_ERR_SHUTTING_DOWN, nothing changes, serve exits 0', { timeout: 60_000 }, async (tt) => {
  const dir = join(t.dir, 'second')
  mkdirSync(dir)
  const db = join(dir, 'live.sqlite3')
  seed(db, { label: 'kept' })
  const second = await startServe({ dir, dbs: [db], workers: 1, app: fixture('faults-app.mjs') })
  try {
    const src = join(dir, 'new.sqlite3')
    seed(src, { label: 'never', rows: 2000 })
    // The control frame and half the file; the rest never comes (the connection stays open).
    const stream = gemStream(['cp', '-', 'live.sqlite3'], readFileSync(src), 4096)
    const reply = exchange(second.socket, stream.subarray(0, Math.floor(stream.length / 2)), { timeoutMs: 20_000 })
    await second.waitForLog(/^command: cp - live\.sqlite3/)
    process.kill(second.pid, 'SIGTERM')
    const r = await reply
    assert.equal(r.timedOut, false)
    assert.equal(r.control?.code, 'HOTSWAP_ERR_SHUTTING_DOWN', `the client is told why (${r.stderr})`)
    assert.equal(r.control?.exit, 1)
    assert.match(r.stderr, /^ERROR: the server is shutting down/)
    assert.equal(await waitExit(second), 0)
    assert.equal(labelOf(db), 'kept')
    assert.deepEqual(await waitNoLeftovers(dir), [], 'the aborted upload left no temp file')
    report(tt, 'SIGTERM during a swap', { faults: 1, survived: 1, lost: 0, tempLeft: 0 })
  } finally {
    await second.stop()
  }
})
