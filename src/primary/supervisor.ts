// The supervisor, the policy over the workers (each one a ManagedWorker): forks them with
// node:cluster, holds the hello of those that start during a swap, restarts the ones that crash
// (with a backoff, and gives up on a crash loop: slots.ts keeps the counts and the given-up
// slots), and stops them all on shutdown. Its parts: rollover.ts (reload, and replacing one
// worker new-first), scale.ts (`hotswap scale`), watchdog.ts (the checks that ask for a
// replacement). A planned exit (shutdown, reload, a replacement, a scale down) is told apart
// from a crash, and only a crash restarts.
//
//   fork(slot) ─▶ ManagedWorker ─▶ … ─▶ exit ─┬─ planned (stop, reload, replace, scale) ─▶ nothing
//                                              ├─ EX_CONFIG, runtime gone ─────────▶ give the slot up
//                                              ├─ too many quick crashes ──────────▶ give the slot up
//                                              └─ crash ─▶ backoff ─▶ fork(slot)
//   every slot given up, none running ─▶ emit 'fatal' (serve stops)

import cluster from 'node:cluster'
import { EventEmitter } from 'node:events'
import { existsSync, realpathSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ExitCodes, HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { DatabaseInfo, HelloValue, StatsValue } from '../shared/messages.js'
import { isLive, ManagedWorker, type WorkerPolicy } from './managed-worker.js'
import { type ReplaceOptions, Rollover, type WorkerHost } from './rollover.js'
import { scale, type ScaleResult } from './scale.js'
import { Slots } from './slots.js'

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
  /** The app's arguments: process.argv after the app's path, in every worker. */
  args?: string[]
  /** Node flags for the workers, after the primary's own execArgv. */
  nodeOptions?: string[]
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

/** Why no worker can start any more, when the runtime this primary forks them on is gone. */
function runtimeMissing (): string | null {
  if (existsSync(BOOTSTRAP)) return null
  return `the worker runtime ${BOOTSTRAP} is gone (was the release hotswap serve runs from removed?); ` +
    'restart hotswap serve to run hotswap from where it is now'
}

/**
 * Emits 'fatal' (an Error) once no worker can be kept running; 'restart' (the slot) when a
 * crashed worker is forked again, 'give-up' (the slot) when a slot is abandoned (metrics/).
 */
export class Supervisor extends EventEmitter implements WorkerHost {
  readonly #opts: Options
  readonly #workers = new Map<number, ManagedWorker>() // by cluster worker id
  readonly slots: Slots
  readonly #rollover: Rollover
  #holdHellos = false
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
    listenTimeout: (w) => { void this.stopWorker(w, this.#opts.killTimeoutMs, false) },
    exit: (w, code, signal) => this.#onExit(w, code, signal),
  }

  constructor (opts: SupervisorOptions) {
    super()
    this.#opts = { minUptimeMs: 1000, maxRestarts: 10, waitReady: false, listenTimeoutMs: 30_000, killTimeoutMs: 10_000, env: {}, args: [], nodeOptions: [], ...opts }
    this.slots = new Slots(this.#opts.workers)
    this.#rollover = new Rollover(this)
  }

  /** The workers' environment from the next fork on (a reload that read the config file again). */
  setEnv (env: Record<string, string>): void {
    this.#opts.env = env
  }

  get env (): Record<string, string> {
    return this.#opts.env
  }

  /** How long a stopping worker may take before SIGKILL (--kill-timeout). */
  get killTimeoutMs (): number {
    return this.#opts.killTimeoutMs
  }

  /** A shutdown has begun: nothing restarts, nothing new is started. */
  get stopping (): boolean {
    return this.#stopping
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
    cluster.setupPrimary({ exec: BOOTSTRAP, args: this.#opts.args, execArgv: [...process.execArgv, ...this.#opts.nodeOptions], silent: true })
    for (let slot = 1; slot <= this.slots.wanted; slot++) this.fork(slot)
  }

  /** Workers that answered the handshake and are not on their way out. */
  live (): ManagedWorker[] {
    return [...this.#workers.values()].filter(isLive)
  }

  all (): ManagedWorker[] {
    return [...this.#workers.values()]
  }

  restartsOf (slot: number): number {
    return this.slots.restartsOf(slot)
  }

  /** A replacement of `w` is queued or under way (the watchdog leaves it alone meanwhile). */
  isReplacing (w: ManagedWorker): boolean {
    return this.#rollover.isReplacing(w)
  }

  /** While a swap holds the workers (their requests queue at the gate). */
  get inSwap (): boolean {
    return this.#holdHellos
  }

  /** A swap holds the workers' requests now (between holdHellos and releaseHellos). */
  get holdingRequests (): boolean {
    return this.#holdHellos
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
  async outsideSwap (): Promise<void> {
    while (this.#holdHellos && !this.#stopping) await new Promise<void>((resolve) => this.#swapEndWaiters.push(resolve))
  }

  async stats (w: ManagedWorker): Promise<StatsValue | null> {
    return await w.stats()
  }

  /** Replaces `w` new-first (rollover.ts); returns at once. */
  replace (w: ManagedWorker, reason: string, opts: ReplaceOptions = {}): void {
    this.#rollover.replace(w, reason, opts)
  }

  /** Rolling restart onto the app's current code, given-up slots first (rollover.ts). */
  async reload (parallel: number): Promise<{ replaced: number, revived: number }> {
    return await this.#rollover.reload(parallel)
  }

  /** `hotswap scale N` (scale.ts). */
  async scale (n: number): Promise<ScaleResult> {
    return await scale(this, n)
  }

  /** Planned stop: every worker drains and exits; stragglers are killed after the timeout. */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopping = true
    this.slots.clearTimers()
    this.releaseHellos()
    await Promise.all(this.all().filter((w) => w.state !== 'dead').map(async (w) => await this.stopWorker(w, timeoutMs)))
  }

  /** Stops one worker, drained (SIGKILL after `timeoutMs`); planned unless told (no restart). */
  async stopWorker (w: ManagedWorker, timeoutMs: number, planned = true): Promise<void> {
    // Never inside a swap's pause (see outsideSwap); a reload and shutdown stop outside one.
    await this.outsideSwap()
    if (planned) w.planned = true
    await w.stop(timeoutMs)
  }

  /** Starts a worker in `slot` (start-up, a restart, and rollover.ts's and scale.ts's forks). */
  fork (slot: number): ManagedWorker {
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
    // Another worker already holds this slot (a reload's replacement), or `scale` removed it:
    // nothing to restart.
    if (this.all().some((o) => o.id === w.id) || !this.slots.has(w.id)) return
    const gone = runtimeMissing()
    if (code === ExitCodes.config || gone !== null) {
      const why = gone ?? (this.lastFailure || 'a configuration error')
      this.#giveUp(w, why, `worker ${w.id} cannot start: ${why}; not restarting it`)
      return
    }
    const uptime = Date.now() - w.startedAt
    const { quick, delayMs } = this.slots.crashed(w.id, uptime, this.#opts.minUptimeMs)
    if (quick > this.#opts.maxRestarts) {
      this.#giveUp(w, `crash loop: ${quick} crashes in a row, each within ${this.#opts.minUptimeMs} ms of starting; the last: exited (${how})`,
        `worker ${w.id} crashed ${quick} times in a row, each within ${this.#opts.minUptimeMs} ms of starting; ` +
        'not restarting it again (crash loop). The other workers keep serving.')
      return
    }
    this.log.warn(`worker ${w.id} (pid ${w.pid}) died (${how}) after ${uptime} ms; restarting in ${delayMs} ms`)
    this.slots.restartLater(w.id, delayMs, () => {
      if (this.#stopping || !this.slots.has(w.id) || this.all().some((o) => o.id === w.id)) return
      this.emit('restart', w.id)
      this.fork(w.id)
    })
  }

  /** The slot of `w` is given up: kept for `status` with its last error, until a reload. */
  #giveUp (w: ManagedWorker, error: string, logLine: string): void {
    const record = { error, at: Date.now(), pid: w.pid, app: w.app }
    this.slots.giveUp(w.id, record)
    this.log.error(logLine)
    this.emit('give-up', w.id)
    // What the worker said when it failed (its startupError) may still be in its output pipe.
    void w.outputDone.then(() => {
      if (w.startupError !== undefined && !error.includes(w.startupError)) record.error = `${error}: ${w.startupError}`
    })
    if (this.slots.allGivenUp() && this.all().length === 0) {
      this.emit('fatal', new HotswapError('HOTSWAP_ERR_CONFIG',
        `no worker could be kept running${this.lastFailure !== '' ? `: ${this.lastFailure}` : ''}`))
    }
  }
}
