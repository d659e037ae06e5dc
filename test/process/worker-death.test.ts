// A worker that dies never hangs or breaks a swap (DESIGN.md, "The swap", step 4: "A worker
// that dies needs no ack"; "Workers started during a swap"), and a crashed worker is replaced
// and serves.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, leftovers, request, seed, type Served, sleep, startServe, tempDir } from '../support/index.js'

interface StatusWorker { id: number, pid: number, state: string, inFlight: number | null, restarts: number }
interface Status { workers: StatusWorker[], databases: Array<{ name: string, swaps: number }> }

let t: ReturnType<typeof tempDir>
let served: Served
let slowStart: Served | undefined
let live: string

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v1' })
  served = await startServe({ dir: t.dir, dbs: [live], workers: 2, app: fixture('hold-app.mjs') })
})

after(async () => {
  const slowCode = await slowStart?.stop()
  if (slowStart !== undefined) assert.equal(slowCode, 0)
  const code = await served?.stop()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
  t?.cleanup()
})

async function status (s = served): Promise<Status> {
  const res = await cli(['status', '--json', '--socket', s.socket], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  return JSON.parse(res.stdout.toString()) as Status
}

async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${served.output().slice(-3000)}`)
    await sleep(50)
  }
}

/** Two workers, both past their handshake, with pids other than `gone`. */
async function waitForFullStrength (gone: number[]): Promise<Status> {
  return await waitFor('a replacement worker', async () => {
    const s = await status()
    const ok = s.workers.length === 2 && s.workers.every((w) => !gone.includes(w.pid) && w.inFlight !== null && w.state !== 'starting' && w.state !== 'dead')
    return ok ? s : undefined
  })
}

/** Asks on fresh connections until `pid` has answered (the primary spreads connections). */
async function servedBy (pid: number, label: string): Promise<void> {
  await waitFor(`a response from pid ${pid}`, async () => {
    const body = (await request(served.port, '/label', { keepAlive: false })).json()
    assert.equal(body.label, label)
    return body.pid === pid ? true : undefined
  })
}

async function noTempFiles (): Promise<void> {
  await waitFor('no temp files', async () => {
    const left = leftovers(t.dir)
    return left.length === 0 ? true : undefined
  }, 5000)
}

test('a worker SIGKILLed while the swap waits on its in-flight request: the push still succeeds', async (tt) => {
  const before = await status()
  assert.equal(before.workers.length, 2)

  // A held request keeps one worker in flight, so the pause waits on it (never released:
  // the worker dies with it).
  const held = request(served.port, `/hold?file=${join(t.dir, 'never')}`, { keepAlive: false }).then(
    (r) => ({ ok: true as const, status: r.status }),
    (err: Error) => ({ ok: false as const, error: err.message }))
  const busy = await waitFor('the held request in flight', async () => {
    const s = await status()
    return s.workers.find((w) => (w.inFlight ?? 0) > 0)
  })

  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v2' })
  const push = cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir })
  // The other worker acks at once; this one waits for /hold. Kill it inside that wait.
  await served.waitForLog(/lock taken for live/)
  await sleep(300)
  assert.equal(served.logs().some((l) => /pause window/.test(String(l.message))), false, 'the swap is still waiting')
  process.kill(busy.pid, 'SIGKILL')

  const res = await push
  assert.equal(res.code, 0, `${res.stderr}\n${served.output().slice(-3000)}`)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(res.stderr, '')
  const heldResult = await held
  assert.equal(heldResult.ok, false, 'the held request died with its worker')

  for (let i = 0; i < 10; i++) {
    assert.equal((await request(served.port, '/label', { keepAlive: false })).json().label, 'v2')
  }
  const afterSwap = await waitForFullStrength([busy.pid])
  const replacement = afterSwap.workers.find((w) => w.id === busy.id)
  assert.ok(replacement !== undefined && replacement.pid !== busy.pid, 'the dead worker\'s slot has a new pid')
  assert.equal(replacement.restarts, 1)
  assert.equal(afterSwap.databases.find((d) => d.name === 'live')?.swaps, 1)
  await servedBy(replacement.pid, 'v2')
  await noTempFiles()
  const window = served.logs().find((l) => /pause window/.test(String(l.message)))
  tt.diagnostic(`pause window with a worker killed in it: ${String(window?.pauseMs)} ms (drain ${String(window?.drainMs)} ms)`)

  // The next swap works as usual with the replacement in it.
  const third = join(t.dir, 'third.sqlite3')
  seed(third, { label: 'v3' })
  const again = await cli(['cp', third, 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.toString(), 'OK\n')
  await servedBy(replacement.pid, 'v3')
  for (const w of afterSwap.workers) await servedBy(w.pid, 'v3')
})

test('a worker SIGKILLed after it acked the pause: the swap finishes, its replacement starts paused and serves the new file', async () => {
  const before = await waitForFullStrength([])
  const release = join(t.dir, 'release')
  const held = request(served.port, `/hold?file=${release}`, { keepAlive: false })
  const busy = await waitFor('the held request in flight', async () => {
    const s = await status()
    return s.workers.find((w) => (w.inFlight ?? 0) > 0)
  })
  const idle = before.workers.find((w) => w.id !== busy.id) as StatusWorker
  const helloHeldBefore = served.logs().filter((l) => /started during a swap/.test(String(l.message))).length

  const next = join(t.dir, 'fourth.sqlite3')
  seed(next, { label: 'v4' })
  const logCount = served.logs().length
  const push = cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir })
  await waitFor('the swap lock', async () => served.logs().slice(logCount).some((l) => /lock taken for live/.test(String(l.message))) ? true : undefined)
  await sleep(300)
  // The idle worker has closed its connection and acked; the busy one still drains.
  process.kill(idle.pid, 'SIGKILL')
  // Its replacement asks to start while the swap still waits on /hold: it is held paused.
  await waitFor('the replacement held in its handshake', async () =>
    served.logs().filter((l) => /started during a swap/.test(String(l.message))).length > helloHeldBefore ? true : undefined)
  assert.equal(served.logs().slice(logCount).some((l) => /pause window/.test(String(l.message))), false, 'the swap is still waiting')
  writeFileSync(release, '')

  const heldRes = await held
  assert.equal(heldRes.status, 200, 'a request in flight at the pause finishes on the old file')
  assert.equal(heldRes.json().label, 'v3')
  const res = await push
  assert.equal(res.code, 0, `${res.stderr}\n${served.output().slice(-3000)}`)
  assert.equal(res.stdout.toString(), 'OK\n')

  const after = await waitForFullStrength([idle.pid])
  const replacement = after.workers.find((w) => w.id === idle.id) as StatusWorker
  assert.notEqual(replacement.pid, idle.pid)
  await servedBy(replacement.pid, 'v4')
  await servedBy(busy.pid, 'v4')
  await noTempFiles()
})

test('a worker SIGKILLed outside any swap is replaced and serves', async () => {
  const before = await waitForFullStrength([])
  const victim = before.workers[0] as StatusWorker
  process.kill(victim.pid, 'SIGKILL')
  const after = await waitForFullStrength([victim.pid])
  const replacement = after.workers.find((w) => w.id === victim.id)
  assert.ok(replacement !== undefined)
  assert.notEqual(replacement.pid, victim.pid)
  assert.equal(replacement.restarts, victim.restarts + 1)
  await servedBy(replacement.pid, 'v4')
  const write = await request(served.port, '/write', { keepAlive: false })
  assert.equal(write.status, 200, write.body)
  assert.equal(write.json().label, 'v4')
  await noTempFiles()
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
  const first = await waitFor('both workers past the handshake', async () => {
    const st = await status(s)
    return st.workers.length === 2 && st.workers.every((w) => w.inFlight !== null) ? st : undefined
  })
  const starting = first.workers.find((w) => w.id === 2) as StatusWorker

  const held = request(s.port, `/hold?file=${release}`, { keepAlive: false })
  await waitFor('the held request on worker 1', async () =>
    (await status(s)).workers.some((w) => w.id === 1 && (w.inFlight ?? 0) > 0) ? true : undefined)
  const next = join(dir, 'next.sqlite3')
  seed(next, { label: 's2' })
  const push = cli(['cp', next, 'live', '--socket', s.socket], { cwd: dir })
  await s.waitForLog(/lock taken for live/)
  await sleep(300)
  // Worker 2's app now configures its database, while the swap waits on worker 1. Either it
  // gets through its set-up and listens, or its set-up fails; only then is worker 1 released.
  writeFileSync(startFile, '')
  await waitFor('worker 2 through its start-up', async () =>
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
  const after = await waitFor('both workers listening', async () => {
    const st = await status(s)
    return st.workers.length === 2 && st.workers.every((w) => w.inFlight !== null) ? st : undefined
  })
  const w2 = after.workers.find((w) => w.id === 2) as StatusWorker
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
