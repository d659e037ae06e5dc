// A worker SIGKILLed at three moments of a swap, under HTTP load: while it drains (a slow
// request keeps it in flight), right after it acked the pause, and while it resumes. A dead
// worker needs no ack; its replacement waits in its handshake until the swap is over and then
// opens the new file. The only requests that may fail are the ones on the killed worker's own
// connections (in flight or queued there when it died). Then the same kills without load
// through the real CLI (the slot refilled, its restart counted, the swap counted, a request in
// flight on the survivor finished on the old file), and a worker killed outside any swap.
//
// Timing: the moments are held open rather than raced. A /slow or /hold request keeps one worker
// draining; the other worker's onPause hook prints "faults-app: paused" just before
// it acks, and a test/fixtures/faults-app.mjs onResume hook that waits (the `resume-delay`
// file) holds both workers inside the resume. The kill is sent from the handler that sees the
// log line arrive on the primary's stdout.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, cli, fixture, holdRequest, type HttpResult, isAlive, kill, labelOf, leftovers, onLog, push, pushable, report, request, seed, type Served, serveLiveForFile, sleep, status, statusJson, type StatusReport, tempDir, TrackedLoad, waitUntil, waitWorkers } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let n = 0

after(async () => {
  rmSync(join(t.dir, 'resume-delay'), { force: true })
})

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs') }, (s) => { ({ t, served, live } = s) })

const candidate = (): { bytes: Buffer, label: string } => pushable(t.dir, `push-${++n}`, 2000)

interface Killed { pid: number, load: TrackedLoad, push: Awaited<ReturnType<typeof push>>, slow: HttpResult | Error | null }

/** Runs a push under load, killing one worker at the moment `arm` picks; then the checks. */
async function killDuringSwap (tt: { diagnostic: (m: string) => void }, name: string, arm: (c: { label: string }) => Promise<{ pid: number, slow?: Promise<HttpResult | Error> }>): Promise<Killed> {
  const c = candidate()
  const old = labelOf(live)
  const load = new TrackedLoad(served.port)
  let armed: { pid: number, slow?: Promise<HttpResult | Error> }
  let pushed: Awaited<ReturnType<typeof push>>
  try {
    const started = arm(c)
    const pushing = push(served.socket, c.bytes)
    armed = await started
    pushed = await pushing
  } finally {
    await load.stop()
  }
  const slow = armed.slow === undefined ? null : await armed.slow
  assert.equal(pushed.control?.exit, 0, `the push succeeds without the dead worker's ack: ${pushed.stderr}`)
  const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [old, c.label] })
  assert.equal(label, c.label, 'the swap went through')
  const unexplained = load.unexplained([armed.pid])
  assert.deepEqual(unexplained, [], `only the killed worker's connections failed (${load.summary()})`)
  assert.deepEqual(load.bad, [], 'no response mixed old and new data')
  const onKilled = load.failures.length
  tt.diagnostic(`${name}: killed pid ${armed.pid}; load ${load.summary()}; ${onKilled} failure(s), all on the killed worker's connections: ${[...new Set(load.failures.map((f) => f.error))].join(' | ')}`)
  report(tt, 'worker killed', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
  return { pid: armed.pid, load, push: pushed, slow }
}

test('a worker SIGKILLed while it drains its in-flight request', async (tt) => {
  await waitWorkers(served.socket, 2)
  const r = await killDuringSwap(tt, 'while draining', async () => {
    const { pid, done: slow } = await holdRequest(served, '/slow?ms=4000')
    // The other worker pausing means the swap is in phase 1; this one is still draining.
    await onLog(served, /^faults-app: paused/, (entry) => {
      assert.notEqual(entry.workerPid, pid, 'the busy worker has not paused')
      kill(pid)
    })
    return { pid, slow }
  })
  assert.ok(r.slow instanceof Error, 'the slow request died with its worker')
})

test('a worker SIGKILLed right after it acked the pause', async (tt) => {
  const workers = await waitWorkers(served.socket, 2)
  const r = await killDuringSwap(tt, 'after its pause ack', async () => {
    const { pid: busy, done: slow } = await holdRequest(served, '/slow?ms=2500')
    const idle = workers.find((w) => w.pid !== busy) as { pid: number }
    // Its onPause hook prints just before the ack goes out; by the time the line has come
    // through the primary's pipe the ack is sent. 100 ms more makes sure it was received.
    await onLog(served, /^faults-app: paused/, (entry) => assert.equal(entry.workerPid, idle.pid))
    await sleep(100)
    kill(idle.pid)
    return { pid: idle.pid, slow }
  })
  assert.ok(!(r.slow instanceof Error) && r.slow?.status === 200, 'the request in flight on the surviving worker finished')
  // The replacement asked to start while the swap still waited on /slow: held, then resumed on the new file.
  assert.ok(served.logs().some((l) => /started during a swap; it waits paused/.test(String(l.message))), 'the replacement started paused')
})

test('a worker SIGKILLed while it resumes (its onResume hook is running)', async (tt) => {
  await waitWorkers(served.socket, 2)
  writeFileSync(join(t.dir, 'resume-delay'), '2000')
  try {
    await killDuringSwap(tt, 'while resuming', async () => {
      // The first worker to enter its onResume hook dies there; the other finishes in 2 s.
      const entry = await onLog(served, /^faults-app: resuming/, (e) => kill(Number(e.workerPid)))
      return { pid: Number(entry.workerPid) }
    })
  } finally {
    rmSync(join(t.dir, 'resume-delay'), { force: true })
  }
  const st = await status(served.socket)
  assert.equal(st.databases[0]?.swaps, n, 'every push in this file swapped')
})

// ---------------------------------------------------------------------------------------------
// The same kills without load, through the real CLI and `status --json`: the slot, the restart
// count and the swap count, and every worker (the replacement too) serving the new file.

/** Two workers, both past their handshake, with pids other than `gone`. */
async function waitForFullStrength (gone: number[]): Promise<StatusReport> {
  return await waitUntil('a replacement worker', async () => {
    const s = await statusJson(served.socket, t.dir)
    const ok = s.workers.length === 2 && s.workers.every((w) => !gone.includes(w.pid) && w.inFlight !== null && w.state !== 'starting' && w.state !== 'dead')
    return ok ? s : undefined
  })
}

/** Asks on fresh connections until `pid` has answered (the primary spreads connections). */
async function servedBy (pid: number, label: string): Promise<void> {
  await waitUntil(`a response from pid ${pid}`, async () => {
    const body = (await request(served.port, '/label', { keepAlive: false })).json()
    assert.equal(body.label, label)
    return body.pid === pid
  })
}

async function noTempFiles (): Promise<void> {
  await waitUntil('no temp files', () => leftovers(t.dir).length === 0, 5000)
}

/** The worker that has a request in flight (the held one), from `status --json`. */
async function busyWorker (): Promise<StatusReport['workers'][number]> {
  return await waitUntil('the held request in flight', async () => {
    const s = await statusJson(served.socket, t.dir)
    return s.workers.find((w) => (w.inFlight ?? 0) > 0)
  })
}

/**
 * `cp NAME live` (a new file labelled `label`) through the real CLI, returned once the swap has
 * taken its lock and had 300 ms more; `logStart` counts the primary's log lines before it.
 */
async function pushUntilLocked (name: string, label: string): Promise<{ push: ReturnType<typeof cli>, logStart: number }> {
  const next = join(t.dir, name)
  seed(next, { label })
  const logStart = served.logs().length
  const push = cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir })
  await waitUntil('the swap lock', () => served.logs().slice(logStart).some((l) => /lock taken for live/.test(String(l.message))))
  await sleep(300)
  return { push, logStart }
}

test('without load, through the real CLI: a worker SIGKILLed while the swap waits on its in-flight request; its slot is refilled and the next swap includes the replacement', async (tt) => {
  const before = await waitForFullStrength([])
  assert.equal(before.workers.length, 2)

  // A held request keeps one worker in flight, so the pause waits on it (never released:
  // the worker dies with it).
  const held = request(served.port, `/hold?file=${join(t.dir, 'never')}`, { keepAlive: false }).then(
    (r) => ({ ok: true as const, status: r.status }),
    (err: Error) => ({ ok: false as const, error: err.message }))
  const busy = await busyWorker()

  // The other worker acks at once; this one waits for /hold. Kill it inside that wait.
  const { push, logStart } = await pushUntilLocked('next.sqlite3', 'v2')
  assert.equal(served.logs().slice(logStart).some((l) => /pause window/.test(String(l.message))), false, 'the swap is still waiting')
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
  assert.equal(replacement.restarts, busy.restarts + 1)
  assert.equal(afterSwap.databases.find((d) => d.name === 'live')?.swaps, (before.databases.find((d) => d.name === 'live')?.swaps ?? 0) + 1)
  await servedBy(replacement.pid, 'v2')
  await noTempFiles()
  const window = served.logs().slice(logStart).find((l) => /pause window/.test(String(l.message)))
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

test('without load, through the real CLI: a worker SIGKILLed after it acked the pause; the request in flight finishes on the old file, the replacement serves the new one', async () => {
  const before = await waitForFullStrength([])
  const release = join(t.dir, 'release')
  const held = request(served.port, `/hold?file=${release}`, { keepAlive: false })
  const busy = await busyWorker()
  const idle = before.workers.find((w) => w.id !== busy.id) as StatusReport['workers'][number]
  const helloHeldBefore = served.logs().filter((l) => /started during a swap/.test(String(l.message))).length

  const { push, logStart } = await pushUntilLocked('fourth.sqlite3', 'v4')
  // The idle worker has closed its connection and acked; the busy one still drains.
  process.kill(idle.pid, 'SIGKILL')
  // Its replacement asks to start while the swap still waits on /hold: it is held paused.
  await waitUntil('the replacement held in its handshake', async () =>
    served.logs().filter((l) => /started during a swap/.test(String(l.message))).length > helloHeldBefore ? true : undefined)
  assert.equal(served.logs().slice(logStart).some((l) => /pause window/.test(String(l.message))), false, 'the swap is still waiting')
  writeFileSync(release, '')

  const heldRes = await held
  assert.equal(heldRes.status, 200, 'a request in flight at the pause finishes on the old file')
  assert.equal(heldRes.json().label, 'v3')
  const res = await push
  assert.equal(res.code, 0, `${res.stderr}\n${served.output().slice(-3000)}`)
  assert.equal(res.stdout.toString(), 'OK\n')

  const after = await waitForFullStrength([idle.pid])
  const replacement = after.workers.find((w) => w.id === idle.id) as StatusReport['workers'][number]
  assert.notEqual(replacement.pid, idle.pid)
  await servedBy(replacement.pid, 'v4')
  await servedBy(busy.pid, 'v4')
  await noTempFiles()
})

test('a worker SIGKILLed outside any swap is replaced in its slot, the other left alone; both slots serve and write', async (tt) => {
  const before = await waitForFullStrength([])
  const victim = before.workers.find((w) => w.id === 1)
  const other = before.workers.find((w) => w.id === 2)
  assert.ok(victim !== undefined && other !== undefined)
  const killedAt = Date.now()
  process.kill(victim.pid, 'SIGKILL')
  const replaced = await waitUntil('slot 1 to be ready on a new pid', async () => {
    const st = await statusJson(served.socket, t.dir)
    const w = st.workers.find((x) => x.id === 1)
    return w !== undefined && w.pid !== victim.pid && w.state === 'ready' ? st : false
  }, 30_000)
  tt.diagnostic(`slot 1 ready again ${Date.now() - killedAt} ms after SIGKILL`)
  const after = await waitForFullStrength([victim.pid])
  const replacement = after.workers.find((w) => w.id === victim.id)
  assert.ok(replacement !== undefined)
  assert.notEqual(replacement.pid, victim.pid)
  assert.equal(replaced.workers.find((w) => w.id === 1)?.pid, replacement.pid)
  assert.equal(replacement.restarts, victim.restarts + 1, 'status counts the restart')
  assert.equal(after.workers.length, 2)
  assert.equal(after.workers.find((w) => w.id === 2)?.pid, other.pid, 'the other worker was left alone')
  assert.equal(after.workers.find((w) => w.id === 2)?.restarts, other.restarts)
  assert.equal(isAlive(victim.pid), false)
  assert.ok(served.logs().some((l) => l.role === 'supervisor' && String(l.message).startsWith(`worker 1 (pid ${victim.pid}) died (signal SIGKILL)`)))
  const pids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const res = await request(served.port, '/label', { keepAlive: false })
    assert.equal(res.status, 200)
    pids.add(res.json().pid as number)
  }
  assert.deepEqual([...pids].sort(), [replacement.pid, other.pid].sort(), 'both slots serve')
  await servedBy(replacement.pid, 'v4')
  const write = await request(served.port, '/write', { keepAlive: false })
  assert.equal(write.status, 200, write.body)
  assert.equal(write.json().label, 'v4')
  await noTempFiles()
})
