// The swap coordinator: one swap at a time, in three phases, with the heavy work before the
// pause so the pause does not grow with the database.
//
//   validated temp file ─▶ lock ─▶ outside holders? ─▶ PAUSE every worker (drain, close, ack)
//        ─▶ a worker's own connections still open? (each reports them in its ack) refuse
//        ─▶ INSTALL in piscina (checkpoint, remove -wal/-shm, link old, rename, fsync dir)
//        ─▶ RESUME every worker (reopen, release queue, ack) ─▶ unlock ─▶ unlink old file
//
// Any failure before the rename resumes everyone on the old file and changes nothing. A worker
// whose resume fails is replaced (rolling, graceful), and the push reports it.

import { rm } from 'node:fs/promises'
import { HotswapError, toHotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { DatabaseInfo, PauseValue, ResumeValue } from '../shared/messages.js'
import type { TaskPool } from './sqlite/pool.js'
import type { ManagedWorker, Supervisor } from './supervisor.js'

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

export interface FailedWorker { id: number, pid: number, error: string }

export interface DatabaseHistory {
  swaps: number
  lastSwapAt: number | null
  lastPauseMs: number | null
}

/** A FIFO lock: waiters are served in the order they asked. */
class Lock {
  #tail: Promise<void> = Promise.resolve()
  #held = false

  get held (): boolean {
    return this.#held
  }

  async acquire (): Promise<() => void> {
    let release!: () => void
    const next = new Promise<void>((resolve) => { release = resolve })
    const previous = this.#tail
    this.#tail = previous.then(() => next)
    await previous
    this.#held = true
    return () => {
      this.#held = false
      release()
    }
  }
}

export interface CoordinatorOptions {
  supervisor: Supervisor
  pool: TaskPool
  logger: Logger
  drainTimeoutMs: number
}

export class SwapCoordinator {
  readonly #opts: CoordinatorOptions
  readonly #lock = new Lock()
  readonly history = new Map<string, DatabaseHistory>()

  constructor (opts: CoordinatorOptions) {
    this.#opts = opts
  }

  get busy (): boolean {
    return this.#lock.held
  }

  /** Runs `fn` holding the swap lock (pulls take it too, so no swap renames under them). */
  async withLock<T> (label: string, fn: () => Promise<T>): Promise<{ value: T, waitMs: number }> {
    const log = this.#opts.logger
    const asked = performance.now()
    if (this.#lock.held) log.info(`${label}: waiting for the swap lock`)
    const release = await this.#lock.acquire()
    const waitMs = performance.now() - asked
    try {
      return { value: await fn(), waitMs }
    } finally {
      release()
    }
  }

  async push (req: PushRequest): Promise<PushReport> {
    const { value, waitMs } = await this.withLock(`push to ${req.db.name}`, async () => await this.#swap(req))
    value.lockWaitMs = waitMs
    return value
  }

  async #swap (req: PushRequest): Promise<PushReport> {
    const { supervisor, pool, logger: log, drainTimeoutMs } = this.#opts
    const { db } = req
    log.info(`lock taken for ${db.name}`)
    if (req.isCancelled()) {
      throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before the swap; nothing was changed')
    }

    // Outside processes are looked for before the pause, so a refusal costs the app nothing.
    // Only a /proc fd scan sees a process that opened the file but has not queried it yet.
    // The live workers are left out (their managed connections are open until the pause); each
    // scans itself once those are closed and reports the rest (#pauseAll). A worker on its way
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
      pauseValues = await this.#pauseAll(targets, db, drainTimeoutMs, req.force)
    } catch (err) {
      await this.#resumeAll(targets, db, err)
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
      await this.#resumeAll(targets, db, err)
      supervisor.releaseHellos()
      log.warn(`install into ${db.name} refused; every worker resumed on the old file`)
      throw err
    }
    const t2 = performance.now()
    const { values: resumed, failed } = await this.#resumeAll(targets, db)
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

    // Freeing the old file's blocks is slow for a large file; it happens here, after the
    // pause, through the link the install kept.
    if (oldLinkPath !== null) {
      rm(oldLinkPath, { force: true }).catch((err: Error) => log.warn(`removing ${oldLinkPath}: ${err.message}`))
    }
    return report
  }

  async #pauseAll (targets: ManagedWorker[], db: DatabaseInfo, drainTimeoutMs: number, force: boolean): Promise<PauseValue[]> {
    const results = await Promise.allSettled(targets.map(async (w) =>
      await w.rpc.request<PauseValue>({ cmd: 'hotswap:pause', names: [db.name], drainTimeoutMs }, drainTimeoutMs + 5000)))
    const values: PauseValue[] = []
    const held: Array<{ w: ManagedWorker, paths: string[] }> = []
    for (const [i, r] of results.entries()) {
      const w = targets[i] as ManagedWorker
      if (r.status === 'fulfilled') {
        values.push(r.value)
        if (r.value.holders.length > 0) held.push({ w, paths: r.value.holders })
        continue
      }
      // A worker that died needs no ack: it holds no connection any more, and its replacement
      // waits in its handshake until the swap is over. One whose IPC channel is already gone
      // is on its way out (it closes its databases on disconnect): wait for its exit.
      if (w.state === 'dead') continue
      if (!w.worker.isConnected() && await exitsWithin(w, 3000)) continue
      const e = toHotswapError(r.reason)
      throw new HotswapError(e.code, `worker ${w.id} (pid ${w.pid}): ${e.message}`, e.details)
    }
    if (held.length > 0) this.#ownConnections(held, db, force)
    return values
  }

  /**
   * Connections a worker opened itself (`new Database(path)`) are invisible to the swap: they
   * would keep reading the unlinked old file and their writes would vanish. Each worker reports
   * what it still has open once its managed connections are closed; any is refused as an
   * outside process is, unless --force.
   */
  #ownConnections (held: Array<{ w: ManagedWorker, paths: string[] }>, db: DatabaseInfo, force: boolean): void {
    const named = held.map(({ w }) => `worker ${w.id} (pid ${w.pid})`).join(', ')
    const details = held.flatMap(({ w, paths }) => paths.map((p) => `worker ${w.id} (pid ${w.pid}) has ${p} open`))
    if (!force) {
      throw new HotswapError('HOTSWAP_ERR_DB_BUSY',
        `${named} ${held.length === 1 ? 'has' : 'have'} ${db.path} open through a connection of its own (not database()); open it with database(), or push with --force`, details)
    }
    this.#opts.logger.warn(`--force: swapping although ${named} ${held.length === 1 ? 'has' : 'have'} ${db.path} open through a connection of its own; ` +
      'that connection keeps the old file and what it writes is lost', { holders: details })
  }

  /**
   * Resumes every worker still alive. One whose resume fails is replaced (a rolling, graceful
   * replacement, never a kill: every worker of an app whose onResume throws fails at once, and
   * killing them all took the service down). After an aborted swap, `aborted` is the error the
   * client gets; the failures are added to its details.
   */
  async #resumeAll (targets: ManagedWorker[], db: DatabaseInfo, aborted?: unknown): Promise<{ values: ResumeValue[], failed: FailedWorker[] }> {
    const { supervisor } = this.#opts
    const alive = targets.filter((w) => w.state !== 'dead')
    const results = await Promise.allSettled(alive.map(async (w) =>
      await w.rpc.request<ResumeValue>({ cmd: 'hotswap:resume', names: [db.name] }, 10_000)))
    const values: ResumeValue[] = []
    const failed: FailedWorker[] = []
    for (const [i, r] of results.entries()) {
      const w = alive[i] as ManagedWorker
      if (r.status === 'fulfilled') {
        values.push(r.value)
        continue
      }
      if (w.state === 'dead') continue // It holds nothing any more; its slot restarts as after a crash.
      const error = toHotswapError(r.reason).message
      failed.push({ id: w.id, pid: w.pid, error })
      supervisor.replace(w, `its resume on ${aborted === undefined ? 'the new' : 'the old'} file of ${db.name} failed: ${error}`)
    }
    if (aborted !== undefined && failed.length > 0 && aborted instanceof HotswapError) {
      for (const f of failed) aborted.details.push(`worker ${f.id} (pid ${f.pid}) failed to resume on the old file (${f.error}); it is being replaced`)
    }
    return { values, failed }
  }
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}

async function exitsWithin (w: ManagedWorker, ms: number): Promise<boolean> {
  if (w.state === 'dead') return true
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    w.worker.once('exit', () => { clearTimeout(timer); resolve(true) })
  })
}
