// --max-memory: a worker whose RSS goes over it is replaced, the new one first (ready), then the
// old one drained, with the figure in the log, and no request failing meanwhile (fresh and
// keep-alive connections, requests in flight). The other worker is left alone.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { freshAndReusedLoad, isAlive, request, versionedServers } from '../support/index.js'

const { project, serve, workersOf } = versionedServers()

test('a leaking worker is replaced by --max-memory, new one first, with no failed request', async (t) => {
  const p = project()
  const s = await serve({ dir: p.dir, dbs: [p.live], workers: 2, args: ['--max-memory', '150M', '--health-interval', '200'] })
  const before = await workersOf(s)
  const traffic = freshAndReusedLoad(s.port, { paths: ['/version', '/slow?ms=40'], concurrency: 3 })
  try {
    const leak = await request(s.port, '/leak?mb=120', { keepAlive: false })
    assert.equal(leak.status, 200, leak.body)
    const pid = Number(leak.json().pid)
    const w = before.find((x) => x.pid === pid)
    assert.ok(w !== undefined)
    const why = await s.waitForLog(new RegExp(`^worker ${w.id} \\(pid ${pid}\\) will be replaced: its memory`))
    t.diagnostic(String(why.message))
    assert.match(String(why.message), /its memory \(RSS [\d.]+ MiB, \d+ bytes\) is over --max-memory 150\.0 MiB \(157286400 bytes\)$/)
    const done = await s.waitForLog(new RegExp(`^worker ${w.id} replaced: pid ${pid} stopped, pid \\d+ serves$`))
    const freshPid = Number(/pid (\d+) serves/.exec(String(done.message))?.[1])
    // New first: the replacement was ready before the old worker was told to stop.
    const logs = s.logs().map((l) => String(l.message))
    const whyAt = logs.indexOf(String(why.message))
    const readyAt = logs.findIndex((m, i) => i > whyAt && m.startsWith(`worker ${w.id} ready`))
    const stoppedAt = logs.indexOf(`worker ${w.id} (pid ${pid}) stopped (code 0)`)
    assert.ok(readyAt > whyAt && stoppedAt > readyAt, `the replacement was ready before the old worker stopped, and that one exited 0 (drained):\n${logs.slice(whyAt).join('\n')}`)
    assert.equal(isAlive(pid), false)
    const after = await workersOf(s)
    assert.deepEqual(after.map((x) => [x.id, x.state]), [[1, 'ready'], [2, 'ready']])
    assert.equal(after.find((x) => x.id === w.id)?.pid, freshPid)
    const other = before.find((x) => x.id !== w.id)
    assert.equal(after.find((x) => x.id !== w.id)?.pid, other?.pid, 'the other worker was left alone')
  } finally {
    const stats = await traffic.stop()
    t.diagnostic(`requests: ${stats.map((x) => `${x.ok} ok, ${x.failed} failed`).join('; ')}`)
    for (const x of stats) assert.equal(x.failed, 0, `no failed request: ${x.errors.join('; ')}`)
  }
  assert.equal(s.logs().filter((l) => /will be replaced/.test(String(l.message))).length, 1, 'one replacement')
  assert.equal(await s.stop(), 0)
})

test('a --max-memory below what the app takes to start: the worker is replaced once, its replacement kept with an error, not replaced for ever', async () => {
  const p = project()
  const s = await serve({ dir: p.dir, dbs: [p.live], workers: 1, args: ['--max-memory', '10M', '--health-interval', '200'] })
  // The first check may come before status answers: the replaced worker is known from the log.
  const replaced = await s.waitForLog(/^worker 1 \(pid \d+\) will be replaced: its memory \(RSS [\d.]+ MiB, \d+ bytes\) is over --max-memory 10\.0 MiB \(10485760 bytes\)$/)
  const first = Number(/pid (\d+)/.exec(String(replaced.message))?.[1])
  const kept = await s.waitForLog(/^worker 1 \(pid \d+\): its memory \(RSS [\d.]+ MiB, \d+ bytes\) is over --max-memory 10\.0 MiB \(10485760 bytes\) at its first check, as was the worker it replaced: the limit is below what the app takes to start; it is not replaced for its memory \(raise --max-memory\)$/, 20_000)
  assert.equal(kept.event, 'max-memory-below-start')
  assert.notEqual(kept.pid, first, 'the replacement is the one kept')
  assert.equal(kept.level, 'error')
  // Ten more intervals: nothing else is replaced, the kept worker serves.
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  assert.equal(s.logs().filter((l) => /will be replaced/.test(String(l.message))).length, 1, 'one replacement, not one per interval')
  const [now] = await workersOf(s)
  assert.equal(now?.pid, kept.pid)
  assert.equal((await request(s.port, '/version')).status, 200)
  assert.equal(await s.stop(), 0)
})
