// What feeds monit's log pane: a LogFeed hands over the lines that came since it was last asked.
// monit reads the server's ring of recent records (ring-feed.ts); StatusEvents here is what it
// falls back on when the server has no `logs` command: what changed between two reports (a
// worker started, stopped or changed state, a database swapped with its pause).

import type { MonitReport } from '../../shared/monit-report.js'

export interface LogLine {
  /** ms since the epoch. */
  at: number
  level: 'info' | 'warn' | 'error'
  text: string
  /** The worker slot it is about, when it is about one (the pane can show one worker's). */
  worker?: number
}

export interface LogFeed {
  /** The lines since the previous call, oldest first. `report` is the refresh's new report. */
  poll: (report: MonitReport) => Promise<LogLine[]> | LogLine[]
  close: () => void
}

/** Lines made from the difference between each report and the one before it. */
export class StatusEvents implements LogFeed {
  #previous: MonitReport | undefined

  poll (report: MonitReport): LogLine[] {
    const before = this.#previous
    this.#previous = report
    const at = report.at
    if (before === undefined) {
      return [{ at, level: 'info', text: `watching primary pid ${report.primary.pid}: ${report.workers.length} worker(s), ${report.databases.length} database(s)` }]
    }
    const out: LogLine[] = []
    if (before.primary.pid !== report.primary.pid) out.push({ at, level: 'warn', text: `the primary changed: pid ${before.primary.pid} → ${report.primary.pid}` })
    const old = new Map(before.workers.map((w) => [w.pid, w]))
    const now = new Set(report.workers.map((w) => w.pid))
    for (const w of report.workers) {
      const o = old.get(w.pid)
      if (o === undefined) out.push({ at, level: 'info', text: `worker ${w.id} started: pid ${w.pid} (${w.state})`, worker: w.id })
      else if (o.state !== w.state) out.push({ at, level: 'info', text: `worker ${w.id} (pid ${w.pid}): ${o.state} → ${w.state}`, worker: w.id })
      if (o !== undefined && w.restarts > o.restarts) out.push({ at, level: 'warn', text: `worker ${w.id} restarted (${w.restarts} restart(s))`, worker: w.id })
    }
    for (const o of before.workers) {
      if (!now.has(o.pid)) out.push({ at, level: 'info', text: `worker ${o.id} (pid ${o.pid}) is gone`, worker: o.id })
    }
    const dbs = new Map(before.databases.map((d) => [d.name, d]))
    for (const d of report.databases) {
      const o = dbs.get(d.name)
      if (o === undefined || d.swaps === o.swaps) continue
      const pause = d.pauses.at(-1)
      out.push({ at, level: 'info', text: `${d.name}: swapped to generation ${d.generation}${pause === undefined ? '' : `, pause ${pause} ms`}` })
    }
    return out
  }

  close (): void {}
}
