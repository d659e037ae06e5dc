// The `cp` client SIGKILLed at 13 points of an upload, under HTTP
// load. The kernel closes a killed client's socket, so the server sees what it would see from a
// crashed laptop or a dropped ssh: bytes that stop. Every kill leaves the live database whole
// (old or pushed, never a mix), no temp file, every worker answering, and no failed request.
//
// Exact points: test/fixtures/raw-client.mjs writes the gem's framing up to a byte offset (inside
// the control frame, right after it, after a stdin frame's header, inside a frame, at and off a
// frame boundary in the middle, just before the end-of-input frame, inside it, after it), says
// when the kernel has the bytes, and waits to be killed. The real `hotswap cp` is killed on
// the server's own log lines, the moment they reach our pipe: when the command arrives, when
// the upload is received (validation starts), and when a worker has paused (the pause is held
// open by a slow request, with the default 10 s drain timeout).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, countLogs, cpChild, fixture, holdRequest, kill, killSources, labelOf, leftovers, onLog, push, rawClient, relabelledCopy, report, type Served, serveLiveForFile, sleep, tempDir, TrackedLoad } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let sources: { medium: string, big: string }
let n = 0

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), args: ['--log-level', 'debug'], prepare: (s) => {
    ({ t, live } = s)
    sources = killSources(t.dir)
  } }, (s) => { ({ t, served, live } = s) })

/** A copy of `src` with its own label, so the live label tells which push (if any) landed. */
function candidate (src: string): { path: string, label: string } {
  const label = `push-${++n}`
  return { path: relabelledCopy(src, join(t.dir, `${label}.sqlite3`), label), label }
}

const ABORTED = /^command cp failed: \[HOTSWAP_ERR_ABORTED\]/
const COMPLETE = /^swap of live complete/

/** The push ended one way or the other: aborted, or swapped. */
async function settled (aborted0: number, complete0: number): Promise<'aborted' | 'swapped'> {
  for (let i = 0; i < 1500; i++) {
    if (countLogs(served, ABORTED) > aborted0) return 'aborted'
    if (countLogs(served, COMPLETE) > complete0) return 'swapped'
    await sleep(20)
  }
  throw new Error(`the push neither aborted nor swapped; output:\n${served.output().slice(-3000)}`)
}

interface Outcome { label: string, how: string }

/** Runs `fault` under load, then the after-fault checks. */
async function underLoad (tt: { diagnostic: (m: string) => void }, name: string, pushed: string, fault: () => Promise<string>): Promise<Outcome> {
  const old = labelOf(live)
  const load = new TrackedLoad(served.port)
  let how: string
  try {
    how = await fault()
  } finally {
    await load.stop()
  }
  const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [old, pushed] })
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  assert.deepEqual(load.bad, [], 'no response mixed old and new data')
  assert.ok(load.ok > 0, 'the load ran')
  tt.diagnostic(`${name}: ${how}; live is ${label === old ? 'the old' : 'the pushed'} database; load ${load.summary()}`)
  report(tt, 'client killed', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
  return { label, how }
}

// Raw cuts that stop before end-of-input: the server must abort and change nothing.
const cuts: Array<{ cut: string, what: string }> = [
  { cut: 'control-half', what: 'inside the control frame' },
  { cut: 'after-control', what: 'right after the control frame, no stdin yet' },
  { cut: 'first-header', what: 'after the first stdin frame\'s 5-byte header' },
  { cut: 'mid-first-frame', what: 'inside the first stdin frame' },
  { cut: 'middle-boundary', what: 'in the middle of the upload, on a frame boundary' },
  { cut: 'middle-inside', what: 'in the middle of the upload, inside a frame' },
  { cut: 'before-eof', what: 'every data frame sent, no end-of-input frame' },
  { cut: 'eof-partial', what: '3 of the end-of-input frame\'s 5 bytes' },
]

for (const { cut, what } of cuts) {
  test(`client SIGKILLed ${what}: nothing changes`, async (tt) => {
    const c = candidate(sources.medium)
    const old = labelOf(live)
    const out = await underLoad(tt, `raw cut ${cut}`, c.label, async () => {
      const aborted0 = countLogs(served, ABORTED)
      const complete0 = countLogs(served, COMPLETE)
      const client = await rawClient(served.socket, c.path, cut)
      if (cut !== 'control-half') {
        // The server is receiving once its temp file exists beside the live database.
        for (let i = 0; i < 500 && leftovers(t.dir).length === 0; i++) await sleep(10)
        assert.equal(leftovers(t.dir).length, 1, 'the upload is being received')
      }
      kill(client.proc.pid as number)
      await client.exited
      if (cut === 'control-half') {
        // No command was read, so there is nothing to abort; the server just drops the bytes.
        return `killed after ${client.sent.sent} of ${client.sent.total} bytes (no command yet)`
      }
      const how = await settled(aborted0, complete0)
      assert.equal(how, 'aborted', 'a push cut before end-of-input is aborted')
      return `killed after ${client.sent.sent} of ${client.sent.total} bytes; ${how}`
    })
    assert.equal(out.label, old, 'nothing was swapped')
  })
}

// Past end-of-input the upload is whole, and the server cannot tell a killed client from one
// that shut its writing side to wait for the reply (the socket is half-open, for socat and
// nc -U): both are an end-of-stream. The coordinator only notices a client whose socket has
// closed, which needs a write to fail first; with tty false nothing is written before OK. So
// these pushes go through, and the test asserts the invariant (old or pushed, whole) and
// reports which one it got.
test('client SIGKILLed right after end-of-input, while its 24 MB upload is checked', async (tt) => {
  const c = candidate(sources.big)
  await underLoad(tt, 'raw cut after-eof', c.label, async () => {
    const aborted0 = countLogs(served, ABORTED)
    const complete0 = countLogs(served, COMPLETE)
    const client = await rawClient(served.socket, c.path, 'after-eof')
    kill(client.proc.pid as number)
    await client.exited
    const how = await settled(aborted0, complete0)
    assert.ok(served.logs().some((l) => /checks passed for live/.test(String(l.message))), 'validation ran to its end after the kill')
    return how
  })
})

// A local FILE is sent as its path (the server copies it); `cp - LIVE` streams the bytes.
for (const form of ['FILE', 'stdin'] as const) {
  test(`hotswap cp ${form === 'FILE' ? 'FILE LIVE' : '- LIVE < FILE'} SIGKILLed as its command arrives`, async (tt) => {
    const c = candidate(sources.big)
    const old = labelOf(live)
    const out = await underLoad(tt, `cp killed at command (${form})`, c.label, async () => {
      const aborted0 = countLogs(served, ABORTED)
      const complete0 = countLogs(served, COMPLETE)
      const child = form === 'FILE'
        ? cpChild([c.path, 'live.sqlite3', '--socket', served.socket], t.dir)
        : cpChild(['-', 'live.sqlite3', '--socket', served.socket], t.dir, c.path)
      await onLog(served, form === 'FILE' ? /^command: cp \/\S+ live\.sqlite3/ : /^command: cp - live\.sqlite3/, () => kill(child.proc.pid as number))
      await child.exited
      return await settled(aborted0, complete0)
    })
    assert.equal(out.how, 'aborted')
    assert.equal(out.label, old)
  })
}

test('hotswap cp SIGKILLed during validation (24 MB, killed on the "received" log line)', async (tt) => {
  const c = candidate(sources.big)
  await underLoad(tt, 'cp killed in validation', c.label, async () => {
    const aborted0 = countLogs(served, ABORTED)
    const complete0 = countLogs(served, COMPLETE)
    const child = cpChild([c.path, 'live.sqlite3', '--socket', served.socket], t.dir)
    await onLog(served, /^received \d+ bytes for live/, () => kill(child.proc.pid as number))
    await child.exited
    const how = await settled(aborted0, complete0)
    assert.ok(served.logs().some((l) => /checks passed for live/.test(String(l.message))), 'validation ran to its end after the kill')
    return how
  })
})

for (const client of ['hotswap cp', 'raw client'] as const) {
  test(`${client} SIGKILLed while the workers are paused: the swap it started completes`, async (tt) => {
    const c = candidate(sources.medium)
    const out = await underLoad(tt, `${client} killed while paused`, c.label, async () => {
      const complete0 = countLogs(served, COMPLETE)
      const aborted0 = countLogs(served, ABORTED)
      // One worker stays busy for 2.5 s, so the pause is held open; the other pauses at once.
      const { done: slow } = await holdRequest(served, '/slow?ms=2500')
      const paused = onLog(served, /^faults-app: paused/)
      let pid: number
      let exited: Promise<number | null>
      if (client === 'hotswap cp') {
        const child = cpChild([c.path, 'live.sqlite3', '--socket', served.socket], t.dir)
        pid = child.proc.pid as number
        exited = child.exited
      } else {
        const raw = await rawClient(served.socket, c.path, 'after-eof')
        pid = raw.proc.pid as number
        exited = raw.exited
      }
      await paused
      assert.equal(countLogs(served, /^renamed into /) - countLogs(served, COMPLETE), 0, 'no install is under way yet')
      kill(pid)
      await exited
      const how = await settled(aborted0, complete0)
      const s = await slow
      assert.ok(!(s instanceof Error) && s.status === 200, 'the request in flight at the pause finished')
      return how
    })
    // Past the lock the push is committed: a vanished client is only looked for before the
    // pause, so the swap finishes and the live database is the pushed one.
    assert.equal(out.how, 'swapped')
    assert.equal(out.label, c.label)
  })
}

test('after every kill, a normal push still works', async () => {
  const c = candidate(sources.medium)
  const r = await push(served.socket, readFileSync(c.path))
  assert.equal(r.control?.exit, 0, r.stderr)
  assert.equal(labelOf(live), c.label)
})
