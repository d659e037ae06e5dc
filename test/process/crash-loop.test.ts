// The crash-loop guard: an app that throws at start-up is restarted --max-restarts times, then
// given up with one coded line; when every slot is given up serve exits 1, when one is the
// healthy worker keeps serving and serve stays up.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { fixture, request, startServe, versionedServers, waitExit } from '../support/index.js'

const { project, servers, workersOf } = versionedServers()

function countLines (text: string, pattern: RegExp): number {
  return text.split('\n').filter((l) => pattern.test(l)).length
}

test('an app that throws at start-up trips the crash-loop guard; serve exits 1 naming the failure', async (t) => {
  const p = project()
  const t0 = Date.now()
  // --min-uptime is generous so that a start slowed down by a busy machine still counts as quick.
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), args: ['--max-restarts', '2', '--min-uptime', '20000'], waitListening: 0,
  })
  servers.push(s)
  const code = await waitExit(s, 60_000).catch((err: Error) => { throw new Error(`${err.message}; output:\n${s.output().slice(-4000)}`) })
  t.diagnostic(`serve gave up and exited ${Date.now() - t0} ms after start`)
  assert.equal(code, 1)
  const out = s.output()
  const sup = s.logs().filter((l) => l.role === 'supervisor').map((l) => String(l.message))
  for (const slot of [1, 2]) {
    // One start plus --max-restarts restarts, then the guard: no loop.
    assert.equal(sup.filter((m) => m.startsWith(`worker ${slot} started`)).length, 3, `slot ${slot} started 3 times`)
    assert.ok(sup.includes(`worker ${slot} crashed 3 times in a row, each within 20000 ms of starting; not restarting it again (crash loop). The other workers keep serving.`),
      `slot ${slot}'s crash-loop message; supervisor said:\n${sup.join('\n')}`)
  }
  assert.ok(s.logs().some((l) => l.role === 'worker 1' && l.startupError === 'the app failed to start: Error: crash-at-start fixture: the app cannot start'),
    'the worker\'s start-up error is logged, tagged with the worker')
  assert.equal(countLines(out, /^ERROR /), 1, `exactly one ERROR line:\n${out.slice(-3000)}`)
  assert.match(out, /^ERROR \[HOTSWAP_ERR_CONFIG\] no worker could be kept running: the app failed to start: Error: crash-at-start fixture: the app cannot start$/m)
  assert.equal(existsSync(s.socket), false, 'socket removed')
})

test('one slot that crash-loops is given up; the healthy worker keeps serving and serve stays up', async () => {
  const p = project()
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), env: { CRASH_WORKER: '2' }, args: ['--max-restarts', '2', '--min-uptime', '20000'], waitListening: 1,
  })
  servers.push(s)
  await s.waitForLog(/^worker 2 crashed 3 times in a row/, 60_000)
  assert.equal(s.child.exitCode, null, 'serve is still running')
  const ws = await workersOf(s)
  assert.deepEqual(ws.map((w) => [w.id, w.state]), [[1, 'ready'], [2, 'given-up']], 'the healthy slot, and the given-up one (test/process/given-up-slot.test.ts)')
  for (let i = 0; i < 6; i++) {
    const res = await request(s.port, '/version', { keepAlive: false })
    assert.equal(res.status, 200)
    assert.equal(res.json().pid, ws[0]?.pid)
  }
  assert.equal(s.logs().filter((l) => /^worker 1 started/.test(String(l.message))).length, 1, 'the healthy slot was never restarted')
  assert.equal(s.output().includes('ERROR ['), false)
  assert.equal(await s.stop(), 0)
})
