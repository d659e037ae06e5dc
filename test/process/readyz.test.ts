// /readyz of `serve --metrics SOCKET` (a Unix socket path): 503 with its reason while the
// workers start (each waits before it listens), 200 once they are ready, 503 again while a
// commit held with `--hold` keeps every worker paused, and 200 once it is given up; the
// given-up commit counts as swaps_total{result="aborted"}; 503 again from the start of a
// shutdown, while a slow request drains. /livez answers all along.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { BIN, cli, fixture, openRequest, sampleValue, scrape, scrapeMetrics, seed, serveForFile, type Served, startServe, statusJson, tempDir, waitExit, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let target: { socketPath: string }
/** The first answer of /readyz, taken as soon as the listener answered at all. */
let first: { status: number, body: string }

serveForFile(async (dir) => {
  seed(join(dir.dir, 'live.sqlite3'), { label: 'v0' })
  target = { socketPath: join(dir.dir, 'm', 'metrics.sock') }
  const s = await startServe({
    dir: dir.dir, dbs: [join(dir.dir, 'live.sqlite3')], app: fixture('metrics-app.mjs'), workers: 2, waitListening: 0,
    env: { LISTEN_DELAY_MS: '1500' }, args: ['--metrics', target.socketPath],
  })
  first = await waitUntil('the metrics listener to answer', async () => await scrape(target, '/readyz').catch(() => null), 15_000)
  return s
}, (s) => { ({ t, served } = s) })

test('during start-up: 503 with the reason, /livez 200; then 200 once every worker is ready', async () => {
  assert.equal(first.status, 503, first.body)
  const body = JSON.parse(first.body) as Record<string, unknown>
  assert.equal(body.ready, false)
  assert.equal(body.minReady, 2)
  assert.match(String(body.reason), /^[01] of the 2 ready worker\(s\) needed \(--min-ready\) are ready$/)
  assert.equal((await scrape(target, '/livez')).status, 200)
  const ready = await waitUntil('/readyz 200', async () => { const r = await scrape(target, '/readyz'); return r.status === 200 && r }, 20_000)
  assert.deepEqual(JSON.parse(ready.body), { ready: true, reason: '', workersReady: 2, minReady: 2, swapHoldingRequests: false })
})

test('a held commit: 503 while it holds the requests, 200 after; counted as aborted', async () => {
  const next = join(t.dir, 'v1.sqlite3')
  seed(next, { label: 'v1' })
  const staged = await cli(['cp', next, 'live', '--stage', '--socket', served.socket], { cwd: t.dir })
  assert.equal(staged.code, 0, staged.stderr)
  const commit = spawn(process.execPath, [BIN, 'commit', staged.stdout.toString().trim(), '--hold', '20000', '--socket', served.socket], { cwd: t.dir, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  commit.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => commit.once('close', resolve))
  try {
    await waitUntil('the commit to say PAUSED', () => out.includes('PAUSED\n'), 15_000)
    const held = await scrape(target, '/readyz')
    assert.equal(held.status, 503)
    assert.deepEqual(JSON.parse(held.body), { ready: false, reason: 'a swap holds the requests (paused)', workersReady: 2, minReady: 2, swapHoldingRequests: true })
    // The workers are paused, and still send the app's metrics.
    const m = await scrapeMetrics(target)
    assert.equal(sampleValue(m, 'hotswap_swap_holding_requests'), 1)
    assert.equal(sampleValue(m, 'app_workers_up'), 2)
    commit.stdin.end('abort\n')
    assert.equal(await exited, 1)
  } finally {
    commit.kill('SIGKILL')
  }
  const after = await scrape(target, '/readyz')
  assert.equal(after.status, 200, after.body)
  const m = await scrapeMetrics(target)
  assert.equal(sampleValue(m, 'hotswap_swaps_total', { database: 'live', result: 'aborted' }), 1)
  assert.equal(sampleValue(m, 'hotswap_swaps_total', { database: 'live', result: 'ok' }), 0)
  assert.equal(sampleValue(m, 'hotswap_swap_holding_requests'), 0)
})

test('a shutdown: 503 from its start, while a slow request drains; then the listener is gone', async () => {
  const slow = openRequest(served.port, '/slow?ms=3000')
  await waitUntil('the slow request in flight', async () => (await statusJson(served.socket, t.dir)).workers.some((w) => (w.inFlight ?? 0) > 0), 15_000)
  served.child.kill('SIGTERM')
  const stopping = await waitUntil('/readyz to say shutting down', async () => {
    const r = await scrape(target, '/readyz').catch(() => null)
    return r !== null && r.status === 503 && r
  }, 5000)
  assert.match(JSON.parse(stopping.body).reason as string, /^the server is shutting down/)
  assert.equal((await scrape(target, '/livez')).status, 200)
  const answered = await slow.done
  assert.ok(!(answered instanceof Error) && answered.status === 200, 'the slow request was answered')
  assert.equal(await waitExit(served), 0)
  await assert.rejects(scrape(target, '/livez'), 'the listener is closed and its socket removed')
})
