// `serve --metrics HOST:PORT` with 2 workers of an app that keeps its own prom-client counter:
// /metrics parses strictly as the Prometheus text format and follows its naming conventions;
// the app's counter is the sum of what every worker counted; hotswap's counters move with the
// push and the crash this test makes; /livez answers, an unknown path is 404, a POST 405.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, fixture, freePort, type Family, request, sampleValue, scrape, scrapeMetrics, seed, serveForFile, type Served, startServe, tempDir, waitUntil } from '../support/index.js'
import { VERSION } from '../../src/shared/version.js'

let t: ReturnType<typeof tempDir>
let served: Served
let target: { port: number }

serveForFile(async (dir) => {
  seed(join(dir.dir, 'live.sqlite3'), { label: 'v0' })
  target = { port: await freePort() }
  return await startServe({ dir: dir.dir, dbs: [join(dir.dir, 'live.sqlite3')], app: fixture('metrics-app.mjs'), workers: 2, args: ['--metrics', `127.0.0.1:${target.port}`] })
}, (s) => { ({ t, served } = s) })

const value = (m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => {
  const v = sampleValue(m, name, labels)
  assert.notEqual(v, undefined, `${name}${JSON.stringify(labels)} is exposed`)
  return v as number
}

test('the exposition parses strictly; hotswap_ names follow the conventions; build info', async () => {
  const r = await scrape(target, '/metrics')
  assert.equal(r.status, 200)
  assert.match(r.type, /^text\/plain; version=0\.0\.4/)
  const m = await scrapeMetrics(target)
  const own = [...m.values()].filter((f) => f.name.startsWith('hotswap_'))
  for (const f of own) {
    assert.notEqual(f.help, '', `${f.name} has a HELP`)
    if (f.type === 'counter') assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`)
    else assert.doesNotMatch(f.name, /_total$/, `${f.name} (${f.type}) does not end in _total`)
    if (f.type === 'histogram') assert.match(f.name, /_seconds$/, `histogram ${f.name} is in seconds`)
    assert.doesNotMatch(f.name, /_ms$|_milliseconds|_kb$|_mb$/, `${f.name} is in base units`)
    for (const s of f.samples) {
      for (const label of Object.keys(s.labels)) assert.ok(['database', 'result', 'state', 'le', 'version', 'sqlite_version', 'node_version'].includes(label), `${s.name}: label ${label}`)
    }
  }
  for (const name of ['hotswap_build_info', 'hotswap_workers', 'hotswap_worker_restarts_total', 'hotswap_worker_give_ups_total', 'hotswap_swaps_total',
    'hotswap_swap_pause_seconds', 'hotswap_swap_holding_requests', 'hotswap_upload_receive_seconds', 'hotswap_upload_validation_seconds',
    'hotswap_database_size_bytes', 'hotswap_database_wal_size_bytes', 'hotswap_database_generation']) {
    assert.ok(m.has(name), `${name} is exposed`)
  }
  const db = new Database(':memory:')
  const sqlite = db.prepare('SELECT sqlite_version()').pluck().get() as string
  db.close()
  assert.equal(value(m, 'hotswap_build_info', { version: VERSION, sqlite_version: sqlite, node_version: process.versions.node }), 1)
  assert.equal(value(m, 'hotswap_workers', { state: 'ready' }), 2)
  assert.equal(value(m, 'hotswap_workers', { state: 'starting' }), 0)
  assert.equal(value(m, 'hotswap_swap_holding_requests'), 0)
  assert.ok(value(m, 'hotswap_database_size_bytes', { database: 'live' }) > 0)
  assert.equal(value(m, 'hotswap_database_generation', { database: 'live' }), 1)
})

test('the app\'s own counter is the sum over the workers', async () => {
  const pids = new Set<unknown>()
  for (let i = 0; i < 20; i++) {
    const r = await request(served.port, '/hit', { keepAlive: false })
    assert.equal(r.status, 200)
    pids.add(r.json().pid)
  }
  assert.equal(pids.size, 2, 'both workers answered some of the requests')
  const m = await scrapeMetrics(target)
  assert.equal(m.get('app_hits_total')?.type, 'counter')
  assert.equal(value(m, 'app_hits_total', { route: 'hit' }), 20, 'the 20 requests, summed over the 2 workers')
  assert.equal(value(m, 'app_workers_up'), 2)
})

test('a push moves swaps_total, the pause histogram, the upload timings and the generation', async () => {
  const before = await scrapeMetrics(target)
  const next = join(t.dir, 'v1.sqlite3')
  seed(next, { label: 'v1' })
  const r = await cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  const after = await scrapeMetrics(target)
  const moved = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - (sampleValue(before, name, labels) ?? 0)
  assert.equal(moved('hotswap_swaps_total', { database: 'live', result: 'ok' }), 1)
  assert.equal(moved('hotswap_swap_pause_seconds_count'), 1)
  assert.ok(moved('hotswap_swap_pause_seconds_sum') > 0)
  assert.equal(moved('hotswap_upload_receive_seconds_count', { database: 'live' }), 1)
  assert.equal(moved('hotswap_upload_validation_seconds_count', { database: 'live' }), 1)
  assert.equal(moved('hotswap_database_generation', { database: 'live' }), 1)
})

test('a crash moves restarts_total, and the slot is ready again', async () => {
  const before = value(await scrapeMetrics(target), 'hotswap_worker_restarts_total')
  assert.equal((await request(served.port, '/crash', { keepAlive: false })).status, 200)
  await waitUntil('the crashed worker restarted and ready', async () => {
    const m = await scrapeMetrics(target)
    return value(m, 'hotswap_worker_restarts_total') === before + 1 && value(m, 'hotswap_workers', { state: 'ready' }) === 2
  }, 15_000)
  assert.equal(value(await scrapeMetrics(target), 'hotswap_worker_give_ups_total'), 0)
})

test('/livez is 200; an unknown path is 404; a POST is 405', async () => {
  const live = await scrape(target, '/livez')
  assert.deepEqual([live.status, live.body], [200, 'ok\n'])
  assert.equal((await scrape(target, '/livez', 'HEAD')).status, 200)
  const unknown = await scrape(target, '/metricz')
  assert.equal(unknown.status, 404)
  assert.match(unknown.body, /serves \/metrics, \/livez and \/readyz/)
  assert.equal((await scrape(target, '/metrics', 'POST')).status, 405)
})

test('hotswap scale moves hotswap_workers_desired, and /readyz waits for the new count', async () => {
  assert.equal(value(await scrapeMetrics(target), 'hotswap_workers_desired'), 2)
  const up = await cli(['scale', '3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(up.code, 0, up.stderr.toString())
  const m = await scrapeMetrics(target)
  assert.equal(value(m, 'hotswap_workers_desired'), 3, 'the scaled count, not the start-up one')
  assert.equal(value(m, 'hotswap_workers', { state: 'ready' }), 3)
  const ready = JSON.parse((await scrape(target, '/readyz')).body) as { minReady: number }
  assert.equal(ready.minReady, 3, 'every wanted worker, by default')
  const down = await cli(['scale', '2', '--socket', served.socket], { cwd: t.dir })
  assert.equal(down.code, 0, down.stderr.toString())
  assert.equal(value(await scrapeMetrics(target), 'hotswap_workers_desired'), 2)
})
