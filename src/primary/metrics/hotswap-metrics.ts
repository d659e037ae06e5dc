// hotswap's own metrics, in a prom-client Registry of the primary's: what the supervisor, the
// swap coordinator and the control socket's pushes report (counters and histograms moved by
// their observers and events), and what is read when Prometheus scrapes (gauges whose
// collect() looks at the workers, the files and the manifests then).
//
//   supervisor 'restart' / 'give-up' ──▶ hotswap_worker_restarts_total, _give_ups_total
//   coordinator committed / failed ────▶ hotswap_swaps_total{database,result}, _swap_pause_seconds
//   cp (push) received / validated ────▶ hotswap_upload_receive_seconds, _validation_seconds
//   scrape ─▶ collect(): workers by state, swap holding requests, database and WAL size,
//             live generation
//
// Names follow Prometheus's conventions: the hotswap_ prefix, base units (seconds, bytes),
// _total on counters, labels only of bounded sets (a database's name, a worker state, a
// result); nothing per request or per worker process.

import { promises as fsp } from 'node:fs'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { toHotswapError } from '../../shared/errors.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import { VERSION } from '../../shared/version.js'
import type { UploadObserver } from '../control/session.js'
import type { GenerationStore } from '../generations/store.js'
import type { WorkerState } from '../managed-worker.js'
import type { Supervisor } from '../supervisor.js'
import type { CommitObserver, CommitReport, CommitRequest } from '../swap/coordinator.js'

export interface HotswapMetricsOptions {
  supervisor: Supervisor
  databases: DatabaseInfo[]
  stores: Map<string, GenerationStore>
  /** The SQLite library's version (the pool threads' better-sqlite3), asked once, at the first scrape. */
  sqliteVersion: () => Promise<string>
  /** How many workers serve is configured to run. */
  desiredWorkers: () => number
}

const STATES: ReadonlyArray<Exclude<WorkerState, 'dead'>> = ['starting', 'online', 'ready', 'stopping']
// A pause is milliseconds (about 6 ms median in the throwaway version); a drain may take up to
// --drain-timeout (10 s by default).
const PAUSE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// An upload and its checks grow with the database: from a few ms (1 MB) to minutes (tens of GB).
const FILE_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]

/** A failed commit's result label: its error code, short (HOTSWAP_ERR_DRAIN_TIMEOUT → drain_timeout). */
export function resultOf (err: unknown): string {
  return toHotswapError(err).code.slice('HOTSWAP_ERR_'.length).toLowerCase()
}

async function sizeOf (path: string): Promise<number | null> {
  // stat, not open: a descriptor of a live file opened and closed in this process would drop
  // the POSIX locks of the pool threads' SQLite connections to it (sqlite/tasks.ts).
  try {
    return (await fsp.stat(path)).size
  } catch {
    return null
  }
}

export class HotswapMetrics implements CommitObserver, UploadObserver {
  readonly registry = new Registry()
  readonly #swaps: Counter<'database' | 'result'>
  readonly #pause: Histogram
  readonly #receive: Histogram<'database'>
  readonly #validation: Histogram<'database'>
  /** Workers left out of a scrape: no answer in time, or the app's metrics failed to collect. */
  readonly scrapeFailures: Counter

  constructor (opts: HotswapMetricsOptions) {
    const { supervisor, databases, stores } = opts
    const registers = [this.registry]
    let sqlite: Promise<string> | undefined
    const build = new Gauge({
      name: 'hotswap_build_info',
      help: 'Always 1: the versions of hotswap, SQLite and Node.js this primary runs',
      labelNames: ['version', 'sqlite_version', 'node_version'],
      registers,
      async collect () {
        sqlite ??= opts.sqliteVersion().catch(() => 'unknown')
        build.set({ version: VERSION, sqlite_version: await sqlite, node_version: process.versions.node }, 1)
      },
    })
    const workers = new Gauge({
      name: 'hotswap_workers',
      help: 'Worker processes by state (ready: serving requests)',
      labelNames: ['state'],
      registers,
      collect () {
        const counts = new Map<string, number>(STATES.map((s) => [s, 0]))
        for (const w of supervisor.all()) if (counts.has(w.state)) counts.set(w.state, (counts.get(w.state) ?? 0) + 1)
        for (const [state, n] of counts) workers.set({ state }, n)
      },
    })
    const givenUp = new Gauge({
      name: 'hotswap_worker_slots_given_up',
      help: 'Worker slots the crash-loop guard gave up, until a reload starts them again (hotswap status: given-up)',
      registers,
      collect () { givenUp.set(supervisor.slots.givenUp().length) },
    })
    const desired = new Gauge({
      name: 'hotswap_workers_desired',
      help: 'Worker processes wanted (--workers, or the last hotswap scale)',
      registers,
      collect () { desired.set(opts.desiredWorkers()) },
    })
    const restarts = new Counter({ name: 'hotswap_worker_restarts_total', help: 'Workers forked again after a crash', registers })
    const giveUps = new Counter({
      name: 'hotswap_worker_give_ups_total',
      help: 'Worker slots given up: crash loops (--max-restarts quick crashes in a row) and workers that cannot start',
      registers,
    })
    supervisor.on('restart', () => restarts.inc())
    supervisor.on('give-up', () => giveUps.inc())
    this.#swaps = new Counter({
      name: 'hotswap_swaps_total',
      help: 'Commits of a database (push, commit of a stage, undo) by result: ok, partial (live, but a worker failed to resume), or the error (aborted, drain_timeout, db_busy, …)',
      labelNames: ['database', 'result'],
      registers,
    })
    this.#pause = new Histogram({ name: 'hotswap_swap_pause_seconds', help: 'How long a commit held the requests (drain, close, install, reopen)', buckets: PAUSE_BUCKETS, registers })
    const holding = new Gauge({
      name: 'hotswap_swap_holding_requests',
      help: '1 while a swap holds every worker\'s requests (paused), else 0',
      registers,
      collect () { holding.set(supervisor.holdingRequests ? 1 : 0) },
    })
    this.#receive = new Histogram({ name: 'hotswap_upload_receive_seconds', help: 'How long a push took to receive its file', labelNames: ['database'], buckets: FILE_BUCKETS, registers })
    this.#validation = new Histogram({
      name: 'hotswap_upload_validation_seconds', help: 'How long a push\'s checks took (header, integrity, schema)', labelNames: ['database'], buckets: FILE_BUCKETS, registers,
    })
    const fileSize = (name: string, help: string, pathOf: (d: DatabaseInfo) => string, missing: number | null): void => {
      const gauge: Gauge<'database'> = new Gauge({
        name,
        help,
        labelNames: ['database'],
        registers,
        async collect () {
          const sizes = await Promise.all(databases.map(async (d) => await sizeOf(pathOf(d))))
          gauge.reset()
          for (const [i, d] of databases.entries()) {
            const bytes = sizes[i] ?? missing
            if (bytes !== null) gauge.set({ database: d.name }, bytes)
          }
        },
      })
    }
    fileSize('hotswap_database_size_bytes', 'Size of the live database file', (d) => d.path, null)
    fileSize('hotswap_database_wal_size_bytes', 'Size of the live database\'s -wal file (0 when it has none)', (d) => `${d.path}-wal`, 0)
    const generation = new Gauge({
      name: 'hotswap_database_generation',
      help: 'The live generation of each database (hotswap history)',
      labelNames: ['database'],
      registers,
      collect () {
        for (const d of databases) generation.set({ database: d.name }, stores.get(d.name)?.manifest.live ?? 0)
      },
    })
    this.scrapeFailures = new Counter({
      name: 'hotswap_metrics_worker_errors_total',
      help: 'Workers left out of a scrape: no answer within 1 s, or the app\'s metrics failed to collect',
      registers,
    })
    // Every database's successful swaps exist from the start, at 0.
    for (const d of databases) this.#swaps.inc({ database: d.name, result: 'ok' }, 0)
  }

  committed (req: CommitRequest, report: CommitReport): void {
    const result = report.failedWorkers.length > 0 ? 'partial' : 'ok'
    for (const item of req.items) this.#swaps.inc({ database: item.db.name, result })
    this.#pause.observe(report.pauseMs / 1000)
  }

  failed (req: CommitRequest, err: unknown): void {
    const result = resultOf(err)
    for (const item of req.items) this.#swaps.inc({ database: item.db.name, result })
  }

  received (db: string, seconds: number): void {
    this.#receive.observe({ database: db }, seconds)
  }

  validated (db: string, seconds: number): void {
    this.#validation.observe({ database: db }, seconds)
  }
}
