// The drain timeout (--drain-timeout 500) when a request will not finish in time, under HTTP
// load. A request that never finishes (/hang answers nothing, ever): the swap is aborted after
// the drain timeout, the error names the worker and the request, every worker resumes on the old
// database, and the requests that queued behind the pause are released and answered; once the
// hung request goes away, the next push goes through. A request that only outlasts the timeout
// (/slow): the swap is aborted naming it, and the request itself ends normally, on the old data.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { checkAfterFault, cli, countLogs, fixture, holdRequest, type HttpResult, labelOf, labels, leftovers, push, pushable, pushOk, report, request, seed, type Served, serveLiveForFile, status, tempDir, TrackedLoad, waitInFlight, waitLogCount } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let n = 0

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), args: ['--drain-timeout', '500'] }, (s) => { ({ t, served, live } = s) })

const candidate = (): { path: string, bytes: Buffer, label: string } => pushable(t.dir, `push-${++n}`, 500)

test('a request that never finishes: the drain timeout aborts the swap, names it, and everyone resumes on the old database', async (tt) => {
  const old = labelOf(live)
  const c = candidate()
  const hung = await holdRequest(served, '/hang')
  const workers = (await status(served.socket)).workers
  const hungWorker = workers.find((w) => w.pid === hung.pid)
  assert.ok(hungWorker !== undefined)
  const aborted0 = countLogs(served, /aborted during the pause/)

  const load = new TrackedLoad(served.port)
  let res
  try {
    // The real CLI, twice: the hung request is still there the second time.
    res = await cli(['cp', c.path, 'live', '--socket', served.socket], { cwd: t.dir })
    const again = await push(served.socket, c.bytes)
    assert.equal(again.control?.code, 'HOTSWAP_ERR_DRAIN_TIMEOUT', again.stderr)
  } finally {
    await load.stop()
  }
  assert.equal(res.code, 1, res.stderr)
  const lines = res.stderr.split('\n')
  assert.match(lines[0] ?? '', new RegExp(`^ERROR \\[HOTSWAP_ERR_DRAIN_TIMEOUT\\] worker ${hungWorker.id} \\(pid ${hung.pid}\\): .*1 request\\(s\\) in flight after 500 ms`))
  assert.ok(lines.some((l) => /^\s+GET \/hang \(running for \d+ ms\)$/.test(l)), `the hung request is named:\n${res.stderr}`)
  assert.equal(res.stdout.toString(), '')
  await waitLogCount(served, /aborted during the pause/, aborted0 + 2)

  // Everyone resumed on the old file; the requests that queued behind each pause were answered.
  const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [old] })
  assert.equal(label, old)
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  assert.deepEqual(load.bad, [])
  assert.ok(load.byPid.get(hung.pid) !== undefined, 'the worker with the hung request kept serving others')

  // The hung request is still in flight (nothing failed it); once its client leaves, a push works.
  hung.abort()
  assert.ok(await hung.done instanceof Error)
  for (let i = 0; i < 100 && ((await status(served.socket)).workers.find((w) => w.pid === hung.pid)?.inFlight ?? 0) > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const ok = await push(served.socket, c.bytes)
  assert.equal(ok.control?.exit, 0, ok.stderr)
  assert.equal(labelOf(live), c.label)
  tt.diagnostic(`hung request on worker ${hungWorker.id} (pid ${hung.pid}): 2 pushes refused with HOTSWAP_ERR_DRAIN_TIMEOUT naming "GET /hang"; load ${load.summary()}; after the client left, the push went through`)
  report(tt, 'drain timeout', { faults: 2, survived: 2, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

test('a request that outlasts the drain timeout, then ends: the swap is aborted naming it, and the request itself ends normally on the old data', async () => {
  const before = labelOf(live)
  // 6 s leaves room for the CLI to start on a loaded machine: the push must pause while the
  // request is still running.
  const slow: Promise<HttpResult> = request(served.port, '/slow?ms=6000', { keepAlive: false })
  await waitInFlight(served.socket, 1)

  const src = join(t.dir, 'drain.sqlite3')
  seed(src, { label: 'never-drained' })
  const res = await cli(['cp', src, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_DRAIN_TIMEOUT\] /)
  assert.match(res.stderr, /GET \/slow\?ms=6000/, 'stderr names the request in flight')
  assert.equal(res.stdout.toString(), '')

  // The swap was called off: the slow request ends normally, on the old data, as do new ones.
  const done = await slow
  assert.equal(done.status, 200)
  assert.equal(done.json().label, before)
  assert.deepEqual(await labels(served.port), [before, before, before, before])
  assert.equal(labelOf(live), before)
  assert.deepEqual(leftovers(t.dir), [])

  await pushOk(served, 'after-drain-timeout')
})
