// Pushes at once, under HTTP load. A second `cp` while one is paused waits for the swap lock
// and both succeed, the second one winning (a /slow request holds the first in its pause; the
// drain timeout is 60 s). 2, 5 and 20 pushes of different files at once (real `hotswap cp`
// processes): each ends with OK or a clear refusal; swaps never overlap; the final database is
// one of the pushed files, whole.
//
// What the ordering is: the swap lock is FIFO in the order pushes *reach* it, which is after
// each upload is received and validated, not the order the clients started. So the final
// database is the one whose swap the server logged last ("swap of live complete", which carries
// the upload's size; every file here has a different size), and that push's client is the last
// one the server sent OK to. The order in which the client processes then exit is reported.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { checkAfterFault, cli, cpChild, fixture, labelOf, labels, leftovers, report, seed, type Served, serveLiveForFile, sleep, tempDir, TrackedLoad, waitInFlight } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let round = 0

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), args: ['--log-level', 'debug', '--drain-timeout', '60000'] }, (s) => { ({ t, served, live } = s) })

for (const count of [2, 5, 20]) {
  test(`${count} concurrent pushes of different files`, async (tt) => {
    round++
    const files = Array.from({ length: count }, (_, i) => {
      const label = `r${round}-p${i}`
      const path = join(t.dir, `${label}.sqlite3`)
      // Different row counts, so every file has a different size (whole pages apart).
      seed(path, { label, rows: 200 + i * 400 })
      return { label, path, bytes: statSync(path).size }
    })
    assert.equal(new Set(files.map((f) => f.bytes)).size, count, 'every file has its own size')
    const old = labelOf(live)
    const logStart = served.logs().length

    const load = new TrackedLoad(served.port)
    const exitOrder: string[] = []
    let results
    try {
      results = await Promise.all(files.map(async (f) => {
        const child = cpChild([f.path, 'live', '--socket', served.socket], t.dir)
        const code = await child.exited
        exitOrder.push(f.label)
        return { ...f, code, out: child.out() }
      }))
    } finally {
      await load.stop()
    }

    // Each one ends with OK, or with a clear refusal.
    for (const r of results) {
      if (r.code === 0) assert.equal(r.out, 'OK\n', `${r.label} printed OK and nothing else`)
      else assert.match(r.out.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_[A-Z_]+\] /, `${r.label} was refused clearly: ${r.out}`)
    }
    const ok = results.filter((r) => r.code === 0)

    // One swap at a time: the lifecycle lines never interleave.
    const lines = served.logs().slice(logStart).map((l) => ({ message: String(l.message), bytes: l.bytes as number | undefined }))
    const steps = lines.filter((l) => /^lock taken for live$|^paused \d+ worker|^renamed into |^resumed \d+ worker|^swap of live complete/.test(l.message))
    const cycle = ['lock', 'paused', 'renamed', 'resumed', 'complete']
    steps.forEach((s, i) => {
      const want = cycle[i % cycle.length] as string
      assert.ok(s.message.startsWith(want === 'lock' ? 'lock taken' : want === 'complete' ? 'swap of live complete' : want), `step ${i} is "${want}", got "${s.message}"`)
    })
    const completed = steps.filter((s) => s.message.startsWith('swap of live complete'))
    assert.equal(completed.length, ok.length, 'every OK is one swap, and every swap an OK')

    // The final database is the last one swapped in, whole.
    const last = completed[completed.length - 1]
    const winner = ok.length === 0 ? undefined : files.find((f) => f.bytes === last?.bytes)
    const expected = winner?.label ?? old
    const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [old, ...ok.map((r) => r.label)] })
    assert.equal(label, expected, 'the live database is the last one the server swapped in')

    assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
    assert.deepEqual(load.bad, [], 'no response mixed old and new data')
    const swapOrder = completed.map((c) => files.find((f) => f.bytes === c.bytes)?.label)
    tt.diagnostic(`${count} pushes: ${ok.length} OK, ${count - ok.length} refused; swap order ${swapOrder.join(' ')}; ` +
      `client exit order ${exitOrder.join(' ')}; last OK client = last swap: ${exitOrder.filter((l) => ok.some((o) => o.label === l)).at(-1) === expected}; ` +
      `started in order p0..p${count - 1}, swapped in start order: ${swapOrder.join(' ') === files.map((f) => f.label).join(' ')}; load ${load.summary()}`)
    report(tt, 'concurrent pushes', { faults: count, survived: count, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
  })
}

test('a second cp while one runs waits its turn; both succeed and the second one wins', async () => {
  const before = labelOf(live)
  // A request that would run for 30 s holds the first push in its pause (drain timeout 60 s);
  // the test ends it from the client side once the second push is known to be waiting, so the
  // order of events does not depend on how fast anything starts.
  const slow = http.get({ host: '127.0.0.1', port: served.port, path: '/slow?ms=30000', agent: false })
  slow.on('error', () => {})
  await waitInFlight(served.socket, 1)

  const first = join(t.dir, 'first.sqlite3')
  const second = join(t.dir, 'second.sqlite3')
  seed(first, { label: 'first' })
  seed(second, { label: 'second' })
  const count = (re: RegExp): number => served.logs().filter((l) => re.test(String(l.message))).length
  const locksBefore = count(/^lock taken for live$/)
  const waitsBefore = count(/^push to live: waiting for the swap lock$/)

  const pushFirst = cli(['cp', first, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  // The first push holds the swap lock and waits for the slow request to drain ...
  for (let i = 0; i < 1500 && count(/^lock taken for live$/) === locksBefore; i++) await sleep(20)
  assert.equal(count(/^lock taken for live$/), locksBefore + 1, 'the first push took the lock')
  // ... when the second one arrives, and waits for the lock.
  const pushSecond = cli(['cp', second, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  for (let i = 0; i < 1500 && count(/^push to live: waiting for the swap lock$/) === waitsBefore; i++) await sleep(20)
  assert.equal(count(/^push to live: waiting for the swap lock$/), waitsBefore + 1, 'the second push waits for the lock')
  assert.equal(labelOf(live), before, 'nothing swapped while the first push drains')
  slow.destroy()

  const [a, b] = await Promise.all([pushFirst, pushSecond])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(a.stdout.toString(), 'OK\n')
  assert.equal(b.code, 0, b.stderr)
  assert.equal(b.stdout.toString(), 'OK\n')
  assert.equal(count(/^lock taken for live$/), locksBefore + 2, 'each push took the lock once')
  assert.deepEqual(await labels(served.port), ['second', 'second', 'second', 'second'])
  assert.equal(labelOf(live), 'second')
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [])
})
