// An app whose onResume hook throws made every worker fail its resume at
// once, and the primary SIGKILLed them all in the same millisecond (thousands of refused
// connections), while `cp` printed OK. Now a worker whose resume fails is replaced the way a
// reload replaces it, one at a time (a replacement is ready before the old worker is stopped,
// gracefully), its queued requests are answered, and `cp` says that the new database is live
// but which workers failed, with HOTSWAP_ERR_WORKER_FAILED.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, cli, countLogs, fixture, type HttpResult, labelOf, onLog, pushable, report, type Served, serveLiveForFile, status, type StatusReport, tempDir, TrackedLoad, waitGone, waitLogCount } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, app: fixture('resume-fail-app.mjs') }, (s) => { ({ t, served, live } = s) })

const candidate = (label: string): string => pushable(t.dir, label).path

/** Polls status until stopped: the fewest ready workers seen, the most stopping at once. */
function watchWorkers (): { stop: () => Promise<{ minReady: number, maxStopping: number, polls: number }> } {
  let running = true
  let minReady = Infinity
  let maxStopping = 0
  let polls = 0
  const loop = (async () => {
    while (running) {
      let st: StatusReport
      try { st = await status(served.socket) } catch { continue }
      polls++
      minReady = Math.min(minReady, st.workers.filter((w) => w.state === 'ready').length)
      maxStopping = Math.max(maxStopping, st.workers.filter((w) => w.state === 'stopping').length)
    }
  })()
  return { stop: async () => { running = false; await loop; return { minReady, maxStopping, polls } } }
}

test('every worker\'s onResume throws: the new database is live, cp says so with HOTSWAP_ERR_WORKER_FAILED, the workers are replaced one at a time, no request fails', async (tt) => {
  const before = (await status(served.socket)).workers.map((w) => w.pid).sort()
  const replaced0 = countLogs(served, /^worker \d+ replaced: /)
  writeFileSync(join(t.dir, 'resume-throws'), '')
  const watch = watchWorkers()
  const load = new TrackedLoad(served.port, { paths: ['/label', '/torn?ms=3'] })
  let res
  let seen
  try {
    res = await cli(['cp', candidate('v1'), 'live', '--socket', served.socket], { cwd: t.dir })
    assert.equal(res.code, 1, res.stderr)
    assert.equal(res.stdout.toString(), '', 'no OK')
    await waitLogCount(served, /^worker \d+ replaced: /, replaced0 + 2, 30_000)
    assert.deepEqual(await waitGone(before), [], 'the failed workers have exited')
  } finally {
    rmSync(join(t.dir, 'resume-throws'), { force: true })
    await load.stop()
    seen = await watch.stop()
  }
  const [first, ...details] = res.stderr.trimEnd().split('\n')
  assert.match(first ?? '', new RegExp(`^ERROR \\[HOTSWAP_ERR_WORKER_FAILED\\] the new database IS live in ${live.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, ` +
    'but 2 of 2 worker\\(s\\) failed to resume on it and are being replaced one at a time \\(worker \\d, pid \\d+; worker \\d, pid \\d+\\)$'))
  for (const pid of before) {
    assert.ok(details.some((d) => new RegExp(`^\\s+worker \\d \\(pid ${pid}\\): an onResume hook threw: resume hook failed on purpose \\(pid ${pid}\\) \\(\\d+ queued request\\(s\\) released on the new file\\)$`).test(d)),
      `worker ${pid} is named with the hook's error:\n${res.stderr}`)
  }
  assert.equal(labelOf(live), 'v1', 'the new database is live')

  // Never fewer ready workers than --workers (a replacement serves before the old one stops),
  // never two stopping at once; nothing was killed.
  assert.ok(seen.polls > 0)
  assert.ok(seen.minReady >= 2, `ready workers never dropped below 2 (min ${seen.minReady} in ${seen.polls} polls)`)
  assert.ok(seen.maxStopping <= 1, `one worker stopped at a time (at most ${seen.maxStopping} at once)`)
  assert.equal(countLogs(served, /SIGKILL|killing it|recycling/), 0, 'no worker was killed')
  assert.ok(countLogs(served, /will be replaced: its resume on the new file of live failed: an onResume hook threw/) >= 2)

  const { tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: ['v1'] })
  const now = (await status(served.socket)).workers.map((w) => w.pid)
  assert.ok(now.every((pid) => !before.includes(pid)), 'both workers were replaced')
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  assert.deepEqual(load.bad, [], 'no torn read')

  // The replacements swap cleanly.
  const ok = await cli(['cp', candidate('v2'), 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(ok.stdout.toString(), 'OK\n')
  assert.equal(labelOf(live), 'v2')
  tt.diagnostic(`onResume threw in both workers: replaced one at a time (min ready ${seen.minReady}, max stopping ${seen.maxStopping}, ${seen.polls} polls); load ${load.summary()}`)
  report(tt, 'onResume throws in every worker', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

/** A request on a fresh connection, resolved with its answer whatever the status. */
async function get (path: string): Promise<HttpResult & { headers: http.IncomingHttpHeaders }> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: served.port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, json: () => JSON.parse(body) as Record<string, unknown> }))
    })
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

test('a worker whose reopen fails answers its queued requests 503 with Retry-After, and is replaced', async () => {
  const before = (await status(served.socket)).workers.map((w) => w.pid)
  const replaced0 = countLogs(served, /^worker \d+ replaced: /)
  writeFileSync(join(t.dir, 'reopen-fails'), '')
  writeFileSync(join(t.dir, 'resume-delay'), '1500')
  let res
  let queued
  try {
    // The hook waits with the gate still closed: a request sent then is queued.
    const resuming = onLog(served, /^resume-fail-app: resuming/)
    const cp = cli(['cp', candidate('v3'), 'live', '--socket', served.socket], { cwd: t.dir })
    await resuming
    queued = await get('/label')
    res = await cp
    assert.equal(res.code, 1, res.stderr)
    rmSync(join(t.dir, 'reopen-fails'), { force: true })
    await waitLogCount(served, /^worker \d+ replaced: /, replaced0 + 2, 30_000)
  } finally {
    rmSync(join(t.dir, 'reopen-fails'), { force: true })
    rmSync(join(t.dir, 'resume-delay'), { force: true })
  }
  assert.equal(queued.status, 503, queued.body)
  assert.equal(queued.headers['retry-after'], '1')
  assert.equal(queued.headers.connection, 'close')
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_WORKER_FAILED\] the new database IS live in .*, but 2 of 2 worker\(s\) failed to resume/)
  assert.match(res.stderr, /reopening database "live" failed: reopen refused on purpose .*queued request\(s\) answered 503/)
  assert.equal(labelOf(live), 'v3')
  await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: ['v3'] })
  const now = (await status(served.socket)).workers.map((w) => w.pid)
  assert.ok(now.every((pid) => !before.includes(pid)), 'both workers were replaced')
})
