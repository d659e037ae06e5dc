// monit's figures from two reports in a row: CPU % of one core and req/s per worker (matched by
// pid), nothing for a process first seen; the sparkline of the last pauses; the log pane's
// lines made from what changed between the two reports.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { MonitReport } from '../../../src/shared/monit-report.js'
import { withRates } from '../../../src/client/monit/rates.js'
import { sparkline } from '../../../src/client/monit/sparkline.js'
import { StatusEvents } from '../../../src/client/monit/log-feed.js'

function report (at: number, workers: Array<[id: number, pid: number, cpuMicros: number, served: number]>, swaps = 0): MonitReport {
  return {
    at,
    primary: { pid: 1, cpuMicros: at * 10, rss: 1, uptimeMs: at },
    workers: workers.map(([id, pid, cpuMicros, served]) => ({ id, pid, state: 'ready', restarts: 0, uptimeMs: 0, cpuMicros, rss: 1, served, inFlight: 0 })),
    databases: [{ name: 'live', path: '/x', size: 1, journalMode: 'wal', generation: 1 + swaps, swaps, pauses: swaps === 0 ? [] : [4.2] }],
  }
}

test('CPU % and req/s from the change over the server\'s clock; a new pid has none yet', () => {
  const a = report(1000, [[1, 10, 1_000_000, 100], [2, 20, 0, 0]])
  const b = report(3000, [[1, 10, 1_500_000, 300], [2, 21, 50_000, 5]])
  const m = withRates(b, a)
  assert.equal(m.workers[0]?.cpuPercent, 25) // 0.5 s of CPU in 2 s
  assert.equal(m.workers[0]?.reqPerSec, 100)
  assert.equal(m.workers[1]?.cpuPercent, null, 'pid 21 replaced pid 20: no earlier sample')
  assert.equal(m.primaryCpuPercent, 1) // 20 ms of CPU in 2 s
  assert.equal(withRates(a, undefined).workers[0]?.cpuPercent, null)
})

test('sparkline: one block per value, scaled to the largest', () => {
  assert.equal(sparkline([]), '')
  assert.equal(sparkline([0, 0]), '▁▁')
  assert.equal(sparkline([1, 8, 4]), '▂█▅')
})

test('StatusEvents: a worker replaced and a swap become lines', () => {
  const feed = new StatusEvents()
  assert.match(feed.poll(report(1000, [[1, 10, 0, 0]]))[0]?.text ?? '', /watching primary pid 1: 1 worker\(s\), 1 database\(s\)/)
  const lines = feed.poll(report(2000, [[1, 11, 0, 0]], 1)).map((l) => l.text)
  assert.deepEqual(lines, ['worker 1 started: pid 11 (ready)', 'worker 1 (pid 10) is gone', 'live: swapped to generation 2, pause 4.2 ms'])
})
