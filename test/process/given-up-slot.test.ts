// A worker slot the crash-loop guard gave up stays in `status` (text and --json) as `given-up`,
// with its last error and when; status says "1 of 2 ready", and `status --check` exits 3 while
// degraded. Once the app is fixed, `reload` starts the slot again and `--check` exits 0. Before,
// the slot vanished from status (it listed the healthy worker only) and reload left it given up.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, request, startServe, statusJson, versionedServers, waitUntil } from '../support/index.js'

const { project, servers, workersOf } = versionedServers()

test('a crash-looping slot is shown given-up with its last error; --check exits 3; reload brings it back', async () => {
  const p = project()
  writeFileSync(join(p.dir, 'crash'), '')
  const t0 = Date.now()
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), env: { CRASH_WORKER: '2', CRASH_WHILE: 'crash' },
    args: ['--max-restarts', '1', '--min-uptime', '20000'], waitListening: 1,
  })
  servers.push(s)
  await s.waitForLog(/^worker 2 crashed 2 times in a row/, 30_000)
  // The reason the worker gave comes through its output pipe, read after its exit.
  const st = await waitUntil('the given-up slot to carry the app\'s error', async () => {
    const r = await statusJson(s.socket, s.dir)
    return r.workers.find((w) => w.state === 'given-up')?.lastError?.includes('crash-at-start fixture') === true ? r : null
  })
  assert.deepEqual(st.workers.map((w) => [w.id, w.state]), [[1, 'ready'], [2, 'given-up']], 'the given-up slot is listed')
  const g = st.workers[1]
  assert.ok(g !== undefined && g.givenUpAt !== null)
  assert.equal(g.lastError, 'crash loop: 2 crashes in a row, each within 20000 ms of starting; the last: exited (code 1): the app failed to start: Error: crash-at-start fixture: the app cannot start')
  assert.ok(g.givenUpAt >= t0 && g.givenUpAt <= Date.now(), 'given up at a time of this test')
  assert.equal(g.restarts, 1)
  assert.deepEqual([st.primary.workersWanted, st.primary.workersReady, st.primary.degraded], [2, 1, true])

  const text = await cli(['status', '--socket', s.socket], { cwd: s.dir })
  assert.equal(text.code, 0, text.stderr)
  const lines = text.stdout.toString().split('\n')
  assert.ok(lines.includes('workers: 1 of 2 ready (1 given up)'), text.stdout.toString())
  const iso = new Date(g.givenUpAt).toISOString()
  assert.ok(lines.includes(`  2  given-up  since ${iso}  restarts 1  last pid ${g.pid}  last error: ${g.lastError}`), text.stdout.toString())

  const check = await cli(['status', '--check', '--socket', s.socket], { cwd: s.dir })
  assert.equal(check.code, 3, 'status --check exits 3 while a slot is given up')
  assert.equal(check.stdout.toString(), `DEGRADED: 1 of 2 ready (1 given up); slot 2 given up at ${iso}: ${g.lastError}\n`)
  assert.equal(check.stderr, '')
  const checkJson = await cli(['status', '--check', '--json', '--socket', s.socket], { cwd: s.dir })
  assert.equal(checkJson.code, 3)
  assert.equal((JSON.parse(checkJson.stdout.toString()) as typeof st).primary.degraded, true)

  // The app is fixed; reload starts the given-up slot again (and rolls the healthy one).
  rmSync(join(p.dir, 'crash'))
  const reload = await cli(['reload', '--socket', s.socket], { cwd: s.dir })
  assert.equal(reload.code, 0, reload.stderr)
  assert.match(reload.stdout.toString(), /^reloaded 1 worker\(s\) and started 1 given-up slot\(s\) again in \d+ ms\n$/)
  const ws = await workersOf(s)
  assert.deepEqual(ws.map((w) => [w.id, w.state, w.lastError]), [[1, 'ready', null], [2, 'ready', null]])
  const ok = await cli(['status', '--check', '--socket', s.socket], { cwd: s.dir })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(ok.stdout.toString(), 'OK: 2 of 2 ready\n')
  const pids = new Set<number>()
  for (let i = 0; i < 40 && pids.size < 2; i++) pids.add(Number((await request(s.port, '/version', { keepAlive: false })).json().pid))
  assert.deepEqual([...pids].sort(), ws.map((w) => w.pid).sort(), 'both slots serve')
  assert.equal(await s.stop(), 0)
})

test('scale down to slots that are all given up is refused: the serving worker is not drained, nothing changes', async () => {
  const p = project()
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), env: { CRASH_WORKER: '1' },
    args: ['--max-restarts', '1', '--min-uptime', '20000'], waitListening: 1,
  })
  servers.push(s)
  await s.waitForLog(/^worker 1 crashed 2 times in a row/, 30_000)
  const before = await workersOf(s)
  assert.deepEqual(before.map((w) => [w.id, w.state]), [[1, 'given-up'], [2, 'ready']])
  const r = await cli(['scale', '1', '--socket', s.socket], { cwd: s.dir })
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_WORKER_FAILED\] scale 1 refused: slot 1 is given up by the crash-loop guard \(crash loop: 2 crashes in a row, .*\), so no worker would serve; nothing changed \(`hotswap reload` starts given-up slots again, or scale to more\)\n$/)
  assert.equal(r.stdout.toString(), '')
  const after = await workersOf(s)
  assert.deepEqual(after.map((w) => [w.id, w.state, w.pid]), before.map((w) => [w.id, w.state, w.pid]), 'worker 2 still serves, slot 1 still listed')
  assert.equal((await statusJson(s.socket, s.dir)).primary.workersWanted, 2)
  assert.equal((await request(s.port, '/version', { keepAlive: false })).status, 200)
  assert.equal(await s.stop(), 0)
})
