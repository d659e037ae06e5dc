// `monit` on the socket: the counters `hotswap monit` draws (shared/monit-report.ts), as one
// JSON line. Asked once a second for as long as a monit runs, so it is kept small: one stats
// round trip per live worker (in parallel, each bounded by its rpc timeout) and one stat per
// database; no SQLite, nothing written, logged at debug (connection.ts).

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { MonitDatabase, MonitReport, MonitWorker } from '../../../shared/monit-report.js'
import { shown, type ServerContext, type Session } from '../session.js'
import { sampleDatabase, sampleWorkers } from '../samples.js'

export async function monit (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  const extra = s.args[1]
  if (extra !== undefined) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${shown(extra)} for monit (it takes none)`)
  const now = Date.now()
  const workers = (await sampleWorkers(ctx)).map(({ w, stats, restarts }): MonitWorker => ({
    id: w.id,
    pid: w.pid,
    state: w.state,
    restarts,
    uptimeMs: now - w.startedAt,
    cpuMicros: stats?.cpuMicros ?? null,
    rss: stats?.rss ?? null,
    served: stats?.served ?? null,
    inFlight: stats?.inFlight ?? null,
  }))
  const databases = await Promise.all(ctx.databases.map(async (d): Promise<MonitDatabase> => {
    const { size, journalMode, history, generation } = await sampleDatabase(ctx, d)
    return { name: d.name, path: d.path, size, journalMode, generation, swaps: history?.swaps ?? 0, pauses: history?.pauses ?? [] }
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
