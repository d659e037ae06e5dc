// `monit` on the socket: the counters `hotswap monit` draws (shared/monit-report.ts), as one
// JSON line. Asked once a second for as long as a monit runs, so it is kept small: one stats
// round trip per live worker (in parallel, each bounded by its rpc timeout) and one stat per
// database; no SQLite, nothing written, logged at debug (connection.ts).

import { promises as fsp } from 'node:fs'
import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { MonitDatabase, MonitReport, MonitWorker } from '../../../shared/monit-report.js'
import { isLive } from '../../managed-worker.js'
import type { ServerContext, Session } from '../session.js'
import { shown } from '../session.js'

export async function monit (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  const extra = s.args[1]
  if (extra !== undefined) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${shown(extra)} for monit (it takes none)`)
  const now = Date.now()
  const workers = await Promise.all(ctx.supervisor.all().map(async (w): Promise<MonitWorker> => {
    const stats = isLive(w) ? await ctx.supervisor.stats(w) : null
    return {
      id: w.id,
      pid: w.pid,
      state: w.state,
      restarts: ctx.supervisor.restartsOf(w.id),
      uptimeMs: now - w.startedAt,
      cpuMicros: stats?.cpuMicros ?? null,
      rss: stats?.rss ?? null,
      served: stats?.served ?? null,
      inFlight: stats?.inFlight ?? null,
    }
  }))
  const databases = await Promise.all(ctx.databases.map(async (d): Promise<MonitDatabase> => {
    const h = ctx.coordinator.history.get(d.name)
    let size: number | null = null
    try { size = (await fsp.stat(d.path)).size } catch { size = null }
    return {
      name: d.name,
      path: d.path,
      size,
      journalMode: ctx.journalModes.get(d.name) ?? 'unknown',
      generation: ctx.coordinator.stores.get(d.name)?.manifest.live ?? 0,
      swaps: h?.swaps ?? 0,
      pauses: h?.pauses ?? [],
    }
  }))
  const cpu = process.cpuUsage()
  const report: MonitReport = {
    at: Date.now(),
    primary: { pid: process.pid, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage.rss(), uptimeMs: now - ctx.startedAt },
    workers: workers.sort((a, b) => a.id - b.id || a.pid - b.pid),
    databases,
  }
  await s.stdout(JSON.stringify(report) + '\n')
  return ExitCodes.ok
}
