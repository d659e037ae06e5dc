// `status [--json]` on the socket: the primary, its workers and its databases, as one
// StatusReport (shared/status-report.ts) on one JSON line, or as text for a person.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { formatBytes } from '../../../shared/format.js'
import { filesIdentity } from '../../../shared/same-files.js'
import type { DatabaseStatus, StatusReport, WorkerStatus } from '../../../shared/status-report.js'
import { VERSION } from '../../../shared/version.js'
import type { ServerContext, Session } from '../session.js'
import { sampleDatabase, sampleWorkers } from '../samples.js'

export async function status (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  for (const a of s.args.slice(1)) {
    if (a !== '--json') throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${JSON.stringify(a.slice(0, 64))} for status (status takes --json)`)
  }
  const json = s.args.includes('--json')
  const workers = (await sampleWorkers(ctx)).map(({ w, stats, restarts }): WorkerStatus => ({
    id: w.id,
    pid: w.pid,
    state: w.state,
    app: w.app,
    uptimeMs: Date.now() - w.startedAt,
    restarts,
    rss: stats?.rss ?? null,
    inFlight: stats?.inFlight ?? null,
    served: stats?.served ?? null,
  }))
  const databases = await Promise.all(ctx.databases.map(async (d): Promise<DatabaseStatus> => {
    const { size, journalMode, history: h, generation } = await sampleDatabase(ctx, d)
    const m = ctx.coordinator.stores.get(d.name)?.manifest
    return {
      name: d.name, path: d.path, size, journalMode, swaps: h?.swaps ?? 0, lastSwapAt: h?.lastSwapAt ?? null, lastPauseMs: h?.lastPauseMs ?? null,
      generation, kept: m === undefined ? 0 : m.generations.length - 1, staged: ctx.coordinator.stages.forDatabase(d.name)?.id ?? null,
    }
  }))
  const report: StatusReport = {
    primary: {
      pid: process.pid,
      uptimeMs: Date.now() - ctx.startedAt,
      socket: ctx.socketPath,
      version: VERSION,
      rss: process.memoryUsage.rss(),
      // As given (through a release symlink, say) and the file it named at the last fork.
      app: ctx.supervisor.app,
      // Whether a client's paths name the same files here: `cp FILE LIVE` then sends the path
      // instead of the bytes.
      ...filesIdentity(),
    },
    workers,
    databases,
  }
  if (json) {
    await s.stdout(JSON.stringify(report) + '\n')
    return ExitCodes.ok
  }
  const lines = [
    `hotswap ${VERSION}  primary pid ${process.pid}  up ${Math.round(report.primary.uptimeMs / 1000)} s  rss ${formatBytes(report.primary.rss)}  socket ${ctx.socketPath}`,
    `app ${report.primary.app.path}${report.primary.app.resolved === report.primary.app.path ? '' : `  (at the last fork: ${report.primary.app.resolved ?? 'missing'})`}`,
    'workers:',
    ...workers.map((w) => `  ${w.id}  pid ${w.pid}  ${w.state}  up ${Math.round(w.uptimeMs / 1000)} s  restarts ${w.restarts}  rss ${w.rss === null ? '-' : formatBytes(w.rss)}  in flight ${w.inFlight ?? '-'}  served ${w.served ?? '-'}`),
    'databases:',
    ...databases.map((d) => `  ${d.name}  ${d.path}  ${d.size === null ? '?' : formatBytes(d.size)}  ${d.journalMode}  generation ${d.generation} (${d.kept} kept${d.staged === null ? '' : `, ${d.staged} staged`})  swaps ${d.swaps}${d.lastSwapAt === null ? '' : `  last swap ${new Date(d.lastSwapAt).toISOString()}`}${d.lastPauseMs === null ? '' : `  last pause ${d.lastPauseMs} ms`}`),
  ]
  await s.stdout(lines.join('\n') + '\n')
  return ExitCodes.ok
}

