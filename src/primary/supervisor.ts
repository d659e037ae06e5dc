// The supervisor, the policy over the workers (each one a ManagedWorker): forks them with
// node:cluster, holds the hello of those that start during a swap, restarts the ones that crash
// (with a backoff, and gives up on a crash loop), rolls them over onto new code (reload), replaces
// one whose resume failed, and stops them all on shutdown. A planned exit (shutdown, reload, a
// replacement) is told apart from a crash, and only a crash restarts.
//
//   #fork(slot) ─▶ ManagedWorker ─▶ … ─▶ exit ─┬─ planned (stop, reload, replace) ─▶ nothing
//                                               ├─ EX_CONFIG, runtime gone ─────────▶ abandon the slot
//                                               ├─ too many quick crashes ──────────▶ abandon the slot
//                                               └─ crash ─▶ backoff ─▶ #fork(slot)
//   every slot abandoned, none running ─▶ emit 'fatal' (serve stops)

import cluster from 'node:cluster'
import { EventEmitter } from 'node:events'
import { existsSync, realpathSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ExitCodes, HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { DatabaseInfo, HelloValue, StatsValue } from '../shared/messages.js'
import { isLive, ManagedWorker, type WorkerPolicy } from './managed-worker.js'

export interface SupervisorOptions {
  /** The app file as given (through any symlink); resolved afresh at every fork. */
  app: string
  /**
   * The workers' working directory, as named (through any symlink): each fork enters it anew.
   * Default: the primary's (inherited, so the directory it was in when it started).
   */
  cwd?: string
  workers: number
  port?: number
  databases: DatabaseInfo[]
  logger: Logger
  /** Environment for the workers on top of the primary's own. */
  env?: Record<string, string>
  /** A worker that exits sooner than this after its start counts toward the crash-loop guard. */
  minUptimeMs?: number
  /** Quick crashes in a row after which a slot is not restarted any more. */
  maxRestarts?: number
  /** Ready means the app called ready(), not merely that its server listens. */
  waitReady?: boolean
  /** How long a starting worker may take to become ready. */
  listenTimeoutMs?: number
  killTimeoutMs?: number
}

type Options = Required<Omit<SupervisorOptions, 'port' | 'env' | 'cwd'>> & { port?: number, env: Record<string, string>, cwd?: string }

const BOOTSTRAP = fileURLToPath(new URL('../worker/bootstrap.js', import.meta.url))

/** Read afresh (after an await, where TypeScript keeps an earlier narrowing of state). */
function leaving (w: ManagedWorker): boolean {
  return w.state === 'dead' || w.state === 'stopping'
}

/** Why no worker can start any more, when the runtime this primary forks them on is gone. */
function runtimeMissing (): string | null {
  if (existsSync(BOOTSTRAP)) return null
  return `the worker runtime ${BOOTSTRAP} is gone (was the release hotswap serve runs from removed?); ` +
    'restart hotswap serve to run hotswap from where it is now'
}

/** Emits 'fatal' (an Error) once no worker can be kept running. */
export class Supervisor extends EventEmitter {
  readonly #opts: Options
  readonly #workers = new Map<number, ManagedWorker>() // by cluster worker id
  readonly #restarts = new Map<number, { count: number, quick: number, timer?: NodeJS.Timeout }>()
  readonly #abandoned = new Set<number>()
  #holdHellos = false
  readonly #replacing = new Set<ManagedWorker>()
  #replacements: Promise<void> = Promise.resolve()
  #heldHellos: Array<() => void> = []
  #swapEndWaiters: Array<() => void> = []
  #stopping = false
  #lastApp: string | null = null
  lastFailure = ''
  readonly #policy: WorkerPolicy = {
    hello: (w, answer) => this.#onHello(w, answer),
    startupError: (why) => { this.lastFailure = why },
    // A worker that listens but never called ready() already gets connections from the round
    // robin: drain it like any stopping worker (SIGKILL after --kill-timeout). Not planned: a
    // slot it holds alone restarts as after a crash.
    listenTimeout: (w) => { void this.#stopOne(w, this.#opts.killTimeoutMs, false) },
    exit: (w, code, signal) => this.#onExit(w, code, signal),
  }

  constructor (opts: SupervisorOptions) {
    super()
    this.#opts = { minUptimeMs: 1000, maxRestarts: 10, waitReady: false, listenTimeoutMs: 30_000, killTimeoutMs: 10_000, env: {}, ...opts }
  }

  get log (): Logger {
    return this.#opts.logger
  }

  /** The app path as given, and the file it named at the last fork (null: it was missing). */
  get app (): { path: string, resolved: string | null } {
    return { path: this.#opts.app, resolved: this.#lastApp }
  }

  start (): void {
    // Workers' stdout/stderr come through the primary, so each line is tagged with its worker.
    // The working directory goes by name, so every fork enters it through today's symlinks: an
    // inherited one is the directory (inode) the primary started in, an old release forever.
    cluster.setupPrimary({ exec: BOOTSTRAP, args: [], silent: true })
    for (let slot = 1; slot <= this.#opts.workers; slot++) this.#fork(slot)
  }

  /** Workers that answered the handshake and are not on their way out. */
  live (): ManagedWorker[] {
    return [...this.#workers.values()].filter(isLive)
  }

  all (): ManagedWorker[] {
    return [...this.#workers.values()]
  }

  restartsOf (slot: number): number {
    return this.#restarts.get(slot)?.count ?? 0
  }

  /** While held, new workers wait in their handshake: they start paused, opening nothing. */
  holdHellos (): void {
    this.#holdHellos = true
  }

  releaseHellos (): void {
    this.#holdHellos = false
    const held = this.#heldHellos.splice(0)
    for (const answer of held) answer()
    for (const resume of this.#swapEndWaiters.splice(0)) resume()
  }

  /**
   * Resolves once no swap holds the workers (between holdHellos and releaseHellos). A worker
   * told to stop inside a pause reopens its database and releases its queued requests at once
   * (bootstrap's shutdown): they would run on the file being swapped out, and their writes be
   * lost with it.
   */
  async #outsideSwap (): Promise<void> {
    while (this.#holdHellos && !this.#stopping) await new Promise<void>((resolve) => this.#swapEndWaiters.push(resolve))
  }

  async stats (w: ManagedWorker): Promise<StatsValue | null> {
    return await w.stats()
  }

  /**
   * Replaces a worker that cannot go on as it is (its resume failed), the way a reload does:
   * start a replacement in its slot, wait until it is ready, then stop the old one gracefully
   * (its requests in flight are answered first). Replacements run one at a time, and a worker
   * is never stopped before its replacement serves, so capacity never drops to zero even when
   * every worker failed at once. A replacement that never becomes ready is stopped and the old
   * worker keeps serving. Returns at once.
   */
  replace (w: ManagedWorker, reason: string): void {
    if (this.#replacing.has(w) || w.state === 'dead' || w.state === 'stopping') return
    this.#replacing.add(w)
    this.log.error(`worker ${w.id} (pid ${w.pid}) will be replaced: ${reason}`)
    this.#replacements = this.#replacements.then(async () => await this.#replaceOne(w))
  }

  async #replaceOne (w: ManagedWorker): Promise<void> {
    try {
      if (this.#stopping || w.state === 'dead' || w.state === 'stopping') return
      const fresh = this.#fork(w.id)
      try {
        await fresh.ready
      } catch (err) {
        fresh.planned = true // As in reload(): it may have served already; no SIGKILL, no restart.
        if (this.#stopping) return
        this.log.error(`the replacement of worker ${w.id} did not become ready (${(err as Error).message}); worker ${w.id} (pid ${w.pid}) keeps serving`)
        return
      }
      // Outside the lock: a swap may be pausing every worker now. Stop the old one after it.
      await this.#outsideSwap()
      if (this.#stopping || leaving(w)) return
      if (leaving(fresh)) {
        this.log.error(`the replacement of worker ${w.id} (pid ${fresh.pid}) stopped before it took over; worker ${w.id} (pid ${w.pid}) keeps serving`)
        return
      }
      await this.#stopOne(w, this.#opts.killTimeoutMs)
      this.log.info(`worker ${w.id} replaced: pid ${w.pid} stopped, pid ${fresh.pid} serves`)
    } catch (err) {
      this.log.error(`replacing worker ${w.id} (pid ${w.pid}): ${(err as Error).message}`)
    } finally {
      this.#replacing.delete(w)
    }
  }

  /**
   * Rolling restart onto the app's current code: per slot, start a replacement, wait until it
   * is ready, then drain and stop the old worker. A replacement that never becomes ready is
   * stopped, the old worker keeps serving, and the rollout stops there.
   */
  async reload (parallel: number): Promise<{ replaced: number }> {
    const old = this.live()
    let replaced = 0
    for (let i = 0; i < old.length; i += parallel) {
      const batch = old.slice(i, i + parallel)
      const results = await Promise.allSettled(batch.map(async (w) => {
        if (w.state === 'dead' || this.#replacing.has(w)) return // Its replacement is on the way.
        const fresh = this.#fork(w.id)
        try {
          await fresh.ready
        } catch (err) {
          // It exited, or it is being stopped gracefully (the listen timeout): it may have
          // served requests already, and SIGKILL would fail the ones in flight.
          fresh.planned = true
          throw err
        }
        await this.#stopOne(w, this.#opts.killTimeoutMs)
        replaced++
      }))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) {
        const e = failed.reason as Error
        throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
          `reload stopped after ${replaced} of ${old.length} worker(s): a replacement did not become ready (${e.message}); the old workers keep serving`)
      }
    }
    return { replaced }
  }

  /** Planned stop: every worker drains and exits; stragglers are killed after the timeout. */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopping = true
    for (const r of this.#restarts.values()) clearTimeout(r.timer)
    this.releaseHellos()
    await Promise.all(this.all().filter((w) => w.state !== 'dead').map(async (w) => await this.#stopOne(w, timeoutMs)))
  }

  async #stopOne (w: ManagedWorker, timeoutMs: number, planned = true): Promise<void> {
    // Never inside a swap's pause (see #outsideSwap); a reload and shutdown stop outside one.
    await this.#outsideSwap()
    if (planned) w.planned = true
    await w.stop(timeoutMs)
  }

  #fork (slot: number): ManagedWorker {
    const env: Record<string, string> = {
      ...this.#opts.env,
      HOTSWAP_APP: this.#opts.app,
      HOTSWAP_WORKER_ID: String(slot),
      // Workers log JSON to the primary, which re-emits each line in its own format and file.
      HOTSWAP_LOG_FORMAT: 'json',
      HOTSWAP_LOG_LEVEL: process.env.HOTSWAP_LOG_LEVEL ?? this.log.level,
      HOTSWAP_LOG_FILE: '',
      // Its own records behind a record separator, told apart from the app's bytes (logger.ts).
      HOTSWAP_LOG_TO_PRIMARY: '1',
    }
    if (this.#opts.port !== undefined) env.PORT = String(this.#opts.port)
    // The worker imports the path as given; node resolves its symlinks then (the main module and
    // its imports come from one release). Resolved here too, for `status` and the log.
    let app: string | null = null
    try {
      app = realpathSync(this.#opts.app)
    } catch (err) {
      this.log.error(`worker ${slot}: the app ${this.#opts.app} cannot be found now: ${(err as Error).message}`)
    }
    this.#lastApp = app
    // The workers run this primary's own runtime: hotswap installed inside a release that a
    // deploy has since pruned is gone for them (the primary keeps its copy in memory). Nothing
    // short of a restart of the primary brings it back, so say so, and do not retry.
    const runtimeGone = runtimeMissing()
    if (runtimeGone !== null) {
      this.lastFailure = runtimeGone
      this.log.error(`worker ${slot} cannot start: ${runtimeGone}`)
    }
    // By name where it still exists; a directory removed since (a pruned release, when no
    // symlink names it) is inherited instead, as before: spawn cannot enter a missing cwd, and
    // the worker was never started (pid -1, no exit, no restart, every slot empty in the end).
    const cwd = this.#workingDirectory(slot)
    cluster.setupPrimary({ cwd })
    const worker = cluster.fork(env)
    const managed = new ManagedWorker({
      id: slot,
      worker,
      app,
      logger: this.log,
      waitReady: this.#opts.waitReady,
      listenTimeoutMs: this.#opts.listenTimeoutMs,
      ...(runtimeGone !== null ? { startupError: runtimeGone } : {}),
      policy: this.#policy,
    })
    this.#workers.set(worker.id, managed)
    this.log.info(`worker ${slot} started (pid ${managed.pid})`, { app })
    return managed
  }

  /** The workers' directory for this fork: the one named at start-up, if it still exists. */
  #workingDirectory (slot: number): string | undefined {
    const named = this.#opts.cwd
    if (named === undefined) return undefined
    try {
      if (statSync(named).isDirectory()) return named
    } catch { /* removed */ }
    this.log.warn(`worker ${slot}: the working directory ${named} no longer exists; the worker starts in the primary's own (removed) directory`)
    return undefined
  }

  #onHello (w: ManagedWorker, answer: (value: HelloValue) => void): void {
    const answerNow = (): void => answer({ databases: this.#opts.databases })
    if (this.#holdHellos) {
      this.log.info(`worker ${w.id} started during a swap; it waits paused until the swap ends`)
      this.#heldHellos.push(answerNow)
    } else {
      answerNow()
    }
  }

  #onExit (w: ManagedWorker, code: number | null, signal: string | null): void {
    const wasPlanned = w.planned || this.#stopping
    this.#workers.delete(w.worker.id)
    const how = signal !== null ? `signal ${signal}` : `code ${String(code)}`
    if (wasPlanned) {
      this.log.info(`worker ${w.id} (pid ${w.pid}) stopped (${how})`)
      return
    }
    // Another worker already holds this slot (a reload's replacement): nothing to restart.
    if (this.all().some((o) => o.id === w.id)) return
    const gone = runtimeMissing()
    if (code === ExitCodes.config || gone !== null) {
      this.#abandon(w.id, `worker ${w.id} cannot start: ${gone ?? (this.lastFailure || 'a configuration error')}; not restarting it`)
      return
    }
    const uptime = Date.now() - w.startedAt
    const r = this.#restarts.get(w.id) ?? { count: 0, quick: 0 }
    this.#restarts.set(w.id, r)
    r.quick = uptime < this.#opts.minUptimeMs ? r.quick + 1 : 0
    if (r.quick > this.#opts.maxRestarts) {
      this.#abandon(w.id, `worker ${w.id} crashed ${r.quick} times in a row, each within ${this.#opts.minUptimeMs} ms of starting; ` +
        'not restarting it again (crash loop). The other workers keep serving.')
      return
    }
    const delay = r.quick === 0 ? 0 : Math.min(100 * 2 ** (r.quick - 1), 10_000)
    this.log.warn(`worker ${w.id} (pid ${w.pid}) died (${how}) after ${uptime} ms; restarting in ${delay} ms`)
    r.timer = setTimeout(() => {
      if (this.#stopping) return
      r.count++
      this.#fork(w.id)
    }, delay)
  }

  #abandon (slot: number, why: string): void {
    this.#abandoned.add(slot)
    this.log.error(why)
    if (this.#abandoned.size >= this.#opts.workers && this.all().length === 0) {
      this.emit('fatal', new HotswapError('HOTSWAP_ERR_CONFIG',
        `no worker could be kept running${this.lastFailure !== '' ? `: ${this.lastFailure}` : ''}`))
    }
  }
}
