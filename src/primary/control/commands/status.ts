// `status [--json] [--check]` on the socket: the primary, its workers (and the slots given up)
// and its databases, as one StatusReport (shared/status-report.ts) on one JSON line, or as text
// for a person. `--check` is for cron and monitoring: one line (or the JSON), and exit 3
// (ExitCodes.degraded) unless every wanted worker slot has a ready worker.

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
    if (a !== '--json' && a !== '--check') throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${JSON.stringify(a.slice(0, 64))} for status (status takes --json, --check)`)
  }
  const json = s.args.includes('--json')
  const check = s.args.includes('--check')
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
    lastError: null,
    givenUpAt: null,
  }))
  const givenUp = ctx.supervisor.slots.givenUp()
  for (const g of givenUp) {
    workers.push({
      id: g.slot, pid: g.pid, state: 'given-up', app: g.app, uptimeMs: 0, restarts: ctx.supervisor.restartsOf(g.slot),
      rss: null, inFlight: null, served: null, lastError: g.error, givenUpAt: g.at,
    })
  }
  workers.sort((a, b) => a.id - b.id)
  const wanted = ctx.supervisor.slots.wanted
  const ready = new Set(workers.filter((w) => w.state === 'ready' && w.id <= wanted).map((w) => w.id)).size
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
      workersWanted: wanted,
      workersReady: ready,
      degraded: ready < wanted,
    },
    workers,
    databases,
  }
  const exit = check && report.primary.degraded ? ExitCodes.degraded : ExitCodes.ok
  if (json) {
    await s.stdout(JSON.stringify(report) + '\n')
    return exit
  }
  const capacity = `${ready} of ${wanted} ready${givenUp.length > 0 ? ` (${givenUp.length} given up)` : ''}`
  if (check) {
    const why = givenUp.map((g) => `; slot ${g.slot} given up at ${new Date(g.at).toISOString()}: ${g.error}`).join('')
    await s.stdout(`${report.primary.degraded ? 'DEGRADED' : 'OK'}: ${capacity}${why}\n`)
    return exit
  }
  const lines = [
    `hotswap ${VERSION}  primary pid ${process.pid}  up ${Math.round(report.primary.uptimeMs / 1000)} s  rss ${formatBytes(report.primary.rss)}  socket ${ctx.socketPath}`,
    `app ${report.primary.app.path}${report.primary.app.resolved === report.primary.app.path ? '' : `  (at the last fork: ${report.primary.app.resolved ?? 'missing'})`}`,
    `workers: ${capacity}`,
    ...workers.map((w) => w.givenUpAt !== null
      ? `  ${w.id}  given-up  since ${new Date(w.givenUpAt).toISOString()}  restarts ${w.restarts}  last pid ${w.pid}  last error: ${w.lastError ?? '?'}`
      : `  ${w.id}  pid ${w.pid}  ${w.state}  up ${Math.round(w.uptimeMs / 1000)} s  restarts ${w.restarts}  rss ${w.rss === null ? '-' : formatBytes(w.rss)}  in flight ${w.inFlight ?? '-'}  served ${w.served ?? '-'}`),
    'databases:',
    ...databases.map((d) => `  ${d.name}  ${d.path}  ${d.size === null ? '?' : formatBytes(d.size)}  ${d.journalMode}  generation ${d.generation} (${d.kept} kept${d.staged === null ? '' : `, ${d.staged} staged`})  swaps ${d.swaps}${d.lastSwapAt === null ? '' : `  last swap ${new Date(d.lastSwapAt).toISOString()}`}${d.lastPauseMs === null ? '' : `  last pause ${d.lastPauseMs} ms`}`),
  ]
  await s.stdout(lines.join('\n') + '\n')
  return ExitCodes.ok
}

