// From two monit reports in a row (shared/monit-report.ts), the figures a person reads: each
// worker's CPU % (of one core) and req/s, from the change of its counters over the change of the
// server's clock. A worker is matched by its pid (a restarted slot is a new process, whose
// first report has no rate yet: shown as "-").

import type { MonitReport, MonitWorker } from '../../shared/monit-report.js'

export interface WorkerRow extends MonitWorker {
  /** % of one core since the previous report; null: no earlier sample of this process. */
  cpuPercent: number | null
  reqPerSec: number | null
}

export interface MonitModel {
  report: MonitReport
  workers: WorkerRow[]
  /** The primary's own CPU %, as a worker's. */
  primaryCpuPercent: number | null
}

function rate (now: number | null, before: number | null | undefined, seconds: number, scale: number): number | null {
  if (now === null || before === null || before === undefined || seconds <= 0 || now < before) return null
  return ((now - before) / seconds) * scale
}

export function withRates (report: MonitReport, previous: MonitReport | undefined): MonitModel {
  const seconds = previous === undefined ? 0 : (report.at - previous.at) / 1000
  const before = new Map((previous?.workers ?? []).map((w) => [w.pid, w]))
  const workers = report.workers.map((w): WorkerRow => {
    const p = before.get(w.pid)
    // µs of CPU per second of wall clock: /1e6 is cores, ×100 is %.
    return { ...w, cpuPercent: rate(w.cpuMicros, p?.cpuMicros, seconds, 1e-4), reqPerSec: rate(w.served, p?.served, seconds, 1) }
  })
  const primaryCpuPercent = previous !== undefined && previous.primary.pid === report.primary.pid
    ? rate(report.primary.cpuMicros, previous.primary.cpuMicros, seconds, 1e-4)
    : null
  return { report, workers, primaryCpuPercent }
}
