// Fault suite, issue 5 item 2: a worker SIGKILLed at three moments of a swap, under HTTP load:
// while it drains (a slow request keeps it in flight), right after it acked the pause, and while
// it resumes. A dead worker needs no ack; its replacement waits in its handshake until the swap
// is over and then opens the new file. The only requests that may fail are the ones on the
// killed worker's own connections (in flight or queued there when it died).
//
// Timing: the moments are held open rather than raced. A /slow request keeps one worker
// draining for seconds; the other worker's onPause hook prints "faults-app: paused" just before
// it acks, and a test/fixtures/faults-app.mjs onResume hook that waits (the `resume-delay`
// file) holds both workers inside the resume. The kill is sent from the handler that sees the
// log line arrive on the primary's stdout.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, fixture, holdRequest, type HttpResult, kill, labelOf, onLog, push, report, seed, type Served, serveLiveForFile, sleep, status, tempDir, TrackedLoad, waitWorkers } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let n = 0

after(async () => {
  rmSync(join(t.dir, 'resume-delay'), { force: true })
})

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs') }, (s) => { ({ t, served, live } = s) })

function candidate (): { bytes: Buffer, label: string } {
  const label = `push-${++n}`
  const path = join(t.dir, `${label}.sqlite3`)
  seed(path, { label, rows: 2000 })
  // seed() closes its connection, which removes the -wal: the file is the whole database.
  return { bytes: readFileSync(path), label }
}

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
