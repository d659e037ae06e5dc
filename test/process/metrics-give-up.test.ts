// A worker slot that crash-loops, under `serve --metrics`: its one restart moves
// hotswap_worker_restarts_total, the guard giving it up moves hotswap_worker_give_ups_total,
// and /readyz follows --min-ready (1 of 2 workers is enough here: 200 with one slot given up).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fixture, freePort, sampleValue, scrape, scrapeMetrics, startServe, versionedServers, waitUntil } from '../support/index.js'

const { project, servers } = versionedServers()

test('a crash loop: one restart, then one give-up; ready with --min-ready 1', async () => {
  const p = project()
  const target = { port: await freePort() }
  // --min-uptime is generous so that a start slowed down by a busy machine still counts as quick.
  servers.push(await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), env: { CRASH_WORKER: '2' }, waitListening: 1,
    args: ['--max-restarts', '1', '--min-uptime', '20000', '--metrics', `127.0.0.1:${target.port}`, '--min-ready', '1'],
  }))
  const m = await waitUntil('slot 2 given up', async () => {
    const m = await scrapeMetrics(target)
    return sampleValue(m, 'hotswap_worker_give_ups_total') === 1 && m
  }, 30_000)
  assert.equal(sampleValue(m, 'hotswap_worker_restarts_total'), 1, 'one restart (--max-restarts 1) before the guard')
  assert.equal(sampleValue(m, 'hotswap_workers', { state: 'ready' }), 1)
  assert.equal(sampleValue(m, 'hotswap_worker_slots_given_up'), 1, 'the given-up slot is counted while it stays given up')
  const ready = await scrape(target, '/readyz')
  assert.equal(ready.status, 200, ready.body)
  assert.deepEqual(JSON.parse(ready.body), { ready: true, reason: '', workersReady: 1, minReady: 1, swapHoldingRequests: false })
})
