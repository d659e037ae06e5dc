// A worker still in its app's start-up when a swap pauses it (DESIGN.md, "Workers started during
// a swap"): its set-up is not refused and it does not crash. (A worker that dies during a swap is
// worker-kill.test.ts.)

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, request, seed, type Served, sleep, startServe, statusJson, type StatusReport, tempDir, waitUntil } from '../support/index.js'

const t = tempDir()
let slowStart: Served | undefined

after(async () => {
  const slowCode = await slowStart?.stop()
  t.cleanup()
  if (slowStart !== undefined) assert.equal(slowCode, 0)
})

test('a worker still in its app\'s start-up when a swap pauses it: the set-up is not refused, the worker does not crash', async () => {
  // The primary counts a worker as a swap target once its handshake is answered, but its app
  // may still be loading (ESM loads the whole module graph asynchronously) or awaiting at top
  // level. Its set-up (user functions, pragmas: "set once, kept across swaps") must not run
  // against a database closed for the swap.
  const dir = join(t.dir, 'slow-start')
  mkdirSync(dir)
  const path = join(dir, 'live.sqlite3')
  seed(path, { label: 's1' })
  const startFile = join(dir, 'start')
  const release = join(dir, 'release')
  const s = slowStart = await startServe({
    dir, dbs: [path], app: fixture('slow-start-app.mjs'), workers: 2, waitListening: 1, env: { START_FILE: startFile },
  })
  // Both workers had their handshake; worker 2 sits in its app's top-level await.
  const first = await waitUntil('both workers past the handshake', async () => {
    const st = await statusJson(s.socket, s.dir)
    return st.workers.length === 2 && st.workers.every((w) => w.inFlight !== null) ? st : undefined
  })
  const starting = first.workers.find((w) => w.id === 2) as StatusReport['workers'][number]

  const held = request(s.port, `/hold?file=${release}`, { keepAlive: false })
  await waitUntil('the held request on worker 1', async () =>
    (await statusJson(s.socket, s.dir)).workers.some((w) => w.id === 1 && (w.inFlight ?? 0) > 0) ? true : undefined)
  const next = join(dir, 'next.sqlite3')
  seed(next, { label: 's2' })
  const push = cli(['cp', next, 'live', '--socket', s.socket], { cwd: dir })
  await s.waitForLog(/lock taken for live/)
  await sleep(300)
  // Worker 2's app now configures its database, while the swap waits on worker 1. Either it
  // gets through its set-up and listens, or its set-up fails; only then is worker 1 released.
  writeFileSync(startFile, '')
  await waitUntil('worker 2 through its start-up', async () =>
    s.logs().some((l) => /worker 2 listening|failed to start/.test(String(l.message))) ? true : undefined)
  assert.equal(s.logs().some((l) => /pause window/.test(String(l.message))), false, 'the swap is still waiting')
  writeFileSync(release, '')

  const heldRes = await held
  assert.equal(heldRes.status, 200, heldRes.body)
  assert.equal(heldRes.json().label, 's1')
  const res = await push
  assert.equal(res.code, 0, `${res.stderr}\n${s.output().slice(-3000)}`)
  assert.equal(res.stdout.toString(), 'OK\n')

  assert.equal(s.logs().some((l) => /failed to start/.test(String(l.message))), false,
    `no worker failed to start:\n${s.logs().filter((l) => /failed to start/.test(String(l.message))).map((l) => String(l.message)).join('\n')}`)
  const after = await waitUntil('both workers listening', async () => {
    const st = await statusJson(s.socket, s.dir)
    return st.workers.length === 2 && st.workers.every((w) => w.inFlight !== null) ? st : undefined
  })
  const w2 = after.workers.find((w) => w.id === 2) as StatusReport['workers'][number]
  assert.equal(w2.pid, starting.pid, 'worker 2 was not restarted')
  assert.equal(w2.restarts, 0)
  const pids = new Set<unknown>()
  for (let i = 0; i < 200 && pids.size < 2; i++) {
    const body = (await request(s.port, '/label', { keepAlive: false })).json()
    assert.deepEqual({ label: body.label, shout: body.shout, foreignKeys: body.foreignKeys }, { label: 's2', shout: 'S2!', foreignKeys: 1 })
    pids.add(body.pid)
  }
  assert.equal(pids.size, 2)
})
