// The swap coordinator: one swap at a time, in three phases, with the heavy work before the
// pause so the pause does not grow with the database.
//
//   validated temp file ─▶ lock ─▶ outside holders? ─▶ PAUSE every worker (drain, close, ack)
//        ─▶ a worker's own connections still open? (each reports them in its ack) refuse
//        ─▶ INSTALL in piscina (checkpoint, remove -wal/-shm, link old, rename, fsync dir)
//        ─▶ RESUME every worker (reopen, release queue, ack) ─▶ unlink old file ─▶ unlock ─▶ OK
//
// Any failure before the rename resumes everyone on the old file and changes nothing. A worker
// whose resume fails is replaced (rolling, graceful), and the push reports it.
//
// This file is the procedure; the lock is lock.ts, talking to the workers (pause, resume, their
// own connections) is pause.ts, and the file work runs in piscina (../sqlite/).

import { rm } from 'node:fs/promises'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo, PauseValue } from '../../shared/messages.js'
import type { TaskPool } from '../sqlite/pool.js'
import type { Supervisor } from '../supervisor.js'
import { SwapLock } from './lock.js'
import { pauseAll, resumeAll, type FailedWorker } from './pause.js'

export interface PushRequest {
  db: DatabaseInfo
  /** Received, validated and fsynced file beside the live one. */
  tempPath: string
  force: boolean
  /** True when the client went away; checked before the pause. */
  isCancelled: () => boolean
}

export interface PushReport {
  pauseMs: number
  drainMs: number
  /** The slowest worker's hooks + connection close (a full page cache takes longest to free). */
  closeMs: number
  installMs: number
  resumeMs: number
  workers: number
  released: number
  lockWaitMs: number
  /**
   * Workers whose resume failed after the new file went live (an onResume hook threw, or a
   * reopen failed): each is being replaced, one at a time. Non-empty means the swap happened
   * but is not clean: `cp` reports it as HOTSWAP_ERR_WORKER_FAILED.
   */
  failedWorkers: FailedWorker[]
}

export interface DatabaseHistory {
  swaps: number
  lastSwapAt: number | null
  lastPauseMs: number | null
}

export interface CoordinatorOptions {
  supervisor: Supervisor
  pool: TaskPool
  logger: Logger
  drainTimeoutMs: number
}

export class SwapCoordinator {
  readonly #opts: CoordinatorOptions
  readonly #lock: SwapLock
  readonly history = new Map<string, DatabaseHistory>()

  constructor (opts: CoordinatorOptions) {
    this.#opts = opts
    this.#lock = new SwapLock(opts.logger)
  }

  get busy (): boolean {
    return this.#lock.held
  }

  /**
   * Runs `fn` holding the swap lock (pulls take it too, so no swap renames under them).
   * Deliberately not async: its caller resumes as soon as SwapLock's own promise settles. Each
   * async layer between the release and the caller costs microtask turns, and with one more the
   * next waiter logged "lock taken" before the push it waited for logged "complete".
   */
  withLock<T> (label: string, fn: () => Promise<T>): Promise<{ value: T, waitMs: number }> {
    return this.#lock.withLock(label, fn)
  }

  async push (req: PushRequest): Promise<PushReport> {
    const { value, waitMs } = await this.withLock(`push to ${req.db.name}`, async () => await this.#swap(req))
    value.lockWaitMs = waitMs
    return value
  }

  async #swap (req: PushRequest): Promise<PushReport> {
    const { supervisor, pool, logger: log } = this.#opts
    const { db } = req
    log.info(`lock taken for ${db.name}`)
    if (req.isCancelled()) {
      throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before the swap; nothing was changed')
    }

    // Outside processes are looked for before the pause, so a refusal costs the app nothing.
    // Only a /proc fd scan sees a process that opened the file but has not queried it yet.
    // The live workers are left out (their managed connections are open until the pause); each
    // scans itself once those are closed and reports the rest (pauseAll). A worker on its way
    // out (stopping after a listen timeout, draining) is not paused, so it is scanned here.
    const holders = await pool.run('findHolders', {
      paths: [db.path],
      excludePids: supervisor.live().map((w) => w.pid),
    }, 'swap')
    if (holders.length > 0) {
      const workers = new Map(supervisor.all().map((w) => [w.pid, w]))
      const named = holders.map((h) => {
        const w = workers.get(h.pid)
        return w === undefined ? `pid ${h.pid} (${h.command})` : `worker ${w.id} (pid ${h.pid}, ${w.state}: not paused by swaps)`
      })
      if (!req.force) {
        throw new HotswapError('HOTSWAP_ERR_DB_BUSY',
          `another process has ${db.path} open: ${[...new Set(named)].join(', ')}; stop it, or push with --force`)
      }
      log.warn(`--force: swapping although ${[...new Set(named)].join(', ')} has the database open`)
    }

    const targets = supervisor.live()
    supervisor.holdHellos()
    const t0 = performance.now()
    let pauseValues: PauseValue[]
    try {
      pauseValues = await pauseAll(this.#opts, targets, db, req.force)
    } catch (err) {
      await resumeAll(this.#opts, targets, db, err)
      supervisor.releaseHellos()
      log.warn(`swap of ${db.name} aborted during the pause after ${(performance.now() - t0).toFixed(1)} ms; every worker resumed on the old file`)
      throw err
    }
    const t1 = performance.now()
    // Nothing is logged at info level inside the window: a log line is a synchronous write to a
    // pipe (~0.3 ms each, and it blocks when the reader is slow). The debug lines mark the steps
    // for whoever wants them, at that cost.
    const trace = log.isLevelEnabled('debug')
    if (trace) log.debug(`paused ${targets.length} worker(s) in ${(t1 - t0).toFixed(2)} ms`)

    let oldLinkPath: string | null = null
    let installTimings: Record<string, number> = {}
    let installStartedAt: number | null = null
    try {
      // On the swap's own thread: inside the pause nothing waits behind other pushes' checks.
      const installed = await pool.run('install', {
        tempPath: req.tempPath,
        livePath: db.path,
        force: req.force,
        busyTimeoutMs: 50,
      }, 'swap')
      oldLinkPath = installed.oldLinkPath
      installTimings = installed.timings
      installStartedAt = installed.startedAt
      if (trace) log.debug(`renamed into ${db.path}`, { timings: installed.timings })
    } catch (err) {
      await resumeAll(this.#opts, targets, db, err)
      supervisor.releaseHellos()
      log.warn(`install into ${db.name} refused; every worker resumed on the old file`)
      throw err
    }
    const t2 = performance.now()
    const { values: resumed, failed } = await resumeAll(this.#opts, targets, db)
    const t3 = performance.now()
    supervisor.releaseHellos()

    const released = resumed.reduce((n, r) => n + r.released, 0)
    const report: PushReport = {
      pauseMs: t3 - t0,
      drainMs: Math.max(0, ...pauseValues.map((p) => p.drainMs)),
      closeMs: Math.max(0, ...pauseValues.map((p) => p.closeMs)),
      installMs: t2 - t1,
      resumeMs: t3 - t2,
      workers: targets.length,
      released,
      lockWaitMs: 0,
      failedWorkers: failed,
    }
    log.info(`resumed ${targets.length - failed.length} worker(s) in ${report.resumeMs.toFixed(2)} ms; ${released} queued request(s) released`)
    if (failed.length > 0) {
      log.error(`${db.name} is live on the new file, but ${failed.length} worker(s) failed to resume and are being replaced one at a time: ` +
        failed.map((f) => `worker ${f.id} (pid ${f.pid}): ${f.error}`).join('; '))
    }
    log.info(`pause window ${report.pauseMs.toFixed(2)} ms for ${db.name}`, {
      pauseMs: round(report.pauseMs), drainMs: round(report.drainMs), closeMs: round(report.closeMs), installMs: round(report.installMs), resumeMs: round(report.resumeMs),
      timings: installTimings, installStartedAt,
    })
    const h = this.history.get(db.name) ?? { swaps: 0, lastSwapAt: null, lastPauseMs: null }
    h.swaps++
    h.lastSwapAt = Date.now()
    h.lastPauseMs = round(report.pauseMs)
    this.history.set(db.name, h)

    // Freeing the old file's blocks is slow for a large file; it happens here, after the pause
    // (the workers never wait for it), through the link the install kept, and before the push is
    // answered: once `cp` prints OK nothing of the swap is left beside the database, so a script
    // that lists the folder or checks the free space right after sees the final state. It was
    // not awaited before, and a test that looked right after OK found the -old- link under load.
    if (oldLinkPath !== null) {
      await rm(oldLinkPath, { force: true }).catch((err: Error) => log.warn(`removing ${oldLinkPath}: ${err.message}`))
    }
    return report
  }
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}
