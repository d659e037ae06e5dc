// One app worker as the primary sees it (node's lib/internal/cluster/worker.js): the cluster
// worker, its rpc, the promise that it becomes ready, its listen timer and the pipe that re-emits
// its output through the primary's logger. Its state changes in one method (#setState); what to
// do about a worker (answer its hello now or after a swap, restart it, give up on its slot) is
// the Supervisor's policy, asked through WorkerPolicy.
//
//   starting ──hello answered──▶ online ──listening / ready()──▶ ready
//       │                          │                              │
//       └──────────────────────────┴──────── stop() ──▶ stopping ─┴──▶ dead (exit, or never spawned)

import type { Worker } from 'node:cluster'
import { HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { HealthValue, HelloValue, PingValue, PrimaryCalls, StatsValue, WorkerCalls } from '../shared/messages.js'
import { Rpc } from '../shared/rpc.js'
import { WorkerOutput } from './logs/worker-output.js'

export type WorkerState = 'starting' | 'online' | 'ready' | 'stopping' | 'dead'

/** The moves #setState makes: each state's possible successors (any other move is refused). */
const NEXT: { readonly [S in WorkerState]: readonly WorkerState[] } = {
  starting: ['online', 'ready', 'stopping', 'dead'],
  online: ['ready', 'stopping', 'dead'],
  ready: ['stopping', 'dead'],
  stopping: ['dead'],
  dead: [],
}

/** Answered the handshake and not on its way out: pauses, stats and reloads reach it. */
export function isLive (w: { state: WorkerState }): boolean {
  return w.state === 'online' || w.state === 'ready'
}

/** What the Supervisor decides about a worker, asked at each of these moments. */
export interface WorkerPolicy {
  /** Its hello arrived: call `answer` now, or later (a swap holds new workers paused). */
  hello: (w: ManagedWorker, answer: (value: HelloValue) => void) => void
  /** It said why it cannot start (a startupError log field, a failed spawn). */
  startupError: (why: string) => void
  /** It did not become ready in time (the promise `ready` has failed already). */
  listenTimeout: (w: ManagedWorker) => void
  /** It is gone (its state is dead, its pending requests failed). */
  exit: (w: ManagedWorker, code: number | null, signal: string | null) => void
}

export interface ManagedWorkerOptions {
  /** Stable slot number (1..N); a replacement takes the slot of the worker it replaces. */
  id: number
  worker: Worker
  /** The app file this worker was forked on: the app path with its symlinks resolved then. */
  app: string | null
  logger: Logger
  /** Ready means the app called ready(), not merely that its server listens. */
  waitReady: boolean
  /** How long it may take to become ready. */
  listenTimeoutMs: number
  /** Why it cannot start, when that is known before it runs (its runtime is gone). */
  startupError?: string
  policy: WorkerPolicy
}

export class ManagedWorker {
  readonly id: number
  readonly worker: Worker
  readonly pid: number
  readonly app: string | null
  readonly startedAt = Date.now()
  readonly rpc: Rpc<PrimaryCalls, WorkerCalls>
  /** Settles once the worker is ready, or fails when it exits or times out first. */
  readonly ready: Promise<void>
  /** Settles once it is dead. */
  readonly exited: Promise<void>
  /** Settles once it is dead and its output is read (what it said last is logged, its startupError known). */
  readonly outputDone: Promise<void>
  /** Its exit is planned (shutdown, reload, a replacement): it is not restarted. */
  planned = false
  #state: WorkerState = 'starting'
  #startupError: string | undefined
  readonly #log: Logger
  readonly #policy: WorkerPolicy
  readonly #waitReady: boolean
  readonly #listenTimer: NodeJS.Timeout
  #markReady!: () => void
  #markFailed!: (err: Error) => void
  #markExited!: () => void
  #markOutputDone!: () => void

  constructor (opts: ManagedWorkerOptions) {
    const { id, worker } = opts
    this.id = id
    this.worker = worker
    this.pid = worker.process.pid ?? -1
    this.app = opts.app
    this.#startupError = opts.startupError
    this.#log = opts.logger
    this.#policy = opts.policy
    this.#waitReady = opts.waitReady
    this.ready = new Promise<void>((resolve, reject) => { this.#markReady = resolve; this.#markFailed = reject })
    this.ready.catch(() => {}) // Not every worker is awaited.
    this.exited = new Promise<void>((resolve) => { this.#markExited = resolve })
    this.outputDone = new Promise<void>((resolve) => { this.#markOutputDone = resolve })
    this.rpc = new Rpc<PrimaryCalls, WorkerCalls>((msg) => worker.isConnected() && worker.send(msg), {
      // A worker that is no longer starting when its hello is answered (stopped while held) gets no answer.
      'hotswap:hello': () => new Promise<HelloValue>((resolve) => {
        this.#policy.hello(this, (value) => { if (this.#setState('online')) resolve(value) })
      }),
      'hotswap:ready': () => {
        if (this.#waitReady) this.#becomeReady('the app called ready()')
        return null
      },
    })
    this.#pipeOutput()

    this.#listenTimer = setTimeout(() => {
      if (this.#state === 'ready' || this.#state === 'dead' || this.#state === 'stopping') return
      const why = `worker ${id} (pid ${this.pid}) did not become ready within ${opts.listenTimeoutMs} ms`
      this.#log.error(why)
      this.#markFailed(new Error(why))
      this.#policy.listenTimeout(this)
    }, opts.listenTimeoutMs)

    worker.on('message', (msg: unknown) => { this.rpc.receive(msg) })
    worker.on('listening', (address) => {
      this.#log.info(`worker ${id} listening on ${address.address ?? '*'}:${address.port}`)
      if (!this.#waitReady) this.#becomeReady('listening')
    })
    worker.on('exit', (code, signal) => {
      clearTimeout(this.#listenTimer)
      // The worker logs why it failed just before it exits; its output pipe may still hold that
      // line when 'exit' fires, so the failure is reported once the pipes close (or soon after,
      // should a grandchild keep them open).
      const failed = (): void => {
        clearTimeout(fallback)
        const why = this.#startupError !== undefined ? `: ${this.#startupError}` : ''
        this.#markFailed(new Error(`worker ${id} exited (${signal ?? `code ${String(code)}`}) before it was ready${why}`))
        this.#markOutputDone()
      }
      const fallback = setTimeout(failed, 500).unref()
      worker.process.once('close', failed)
      this.#gone(code, signal)
    })
    worker.on('error', (err) => this.#log.warn(`worker ${id} IPC error: ${err.message}`))
    if (worker.process.pid === undefined) {
      // The process was never started (spawn failed: ENOENT, EAGAIN, EACCES). Node reports it as
      // an 'error' and never an 'exit': without this the slot stayed "starting" for good, not
      // restarted, and never counted toward a crash loop.
      worker.process.once('error', (err) => {
        if (this.#state === 'dead') return
        clearTimeout(this.#listenTimer)
        const why = `cannot start a worker process: ${err.message}`
        this.#noteStartupError(why)
        this.#log.error(`worker ${id}: ${why}`)
        this.#markFailed(new Error(`worker ${id} ${why}`))
        this.#markOutputDone()
        this.#gone(null, null)
      })
    }
  }

  get state (): WorkerState {
    return this.#state
  }

  /** What the worker said when it failed to start (its `startupError` log field), if it did. */
  get startupError (): string | undefined {
    return this.#startupError
  }

  /** Its counters, or null when it does not answer within 2 s. */
  async stats (): Promise<StatsValue | null> {
    try {
      return await this.rpc.request({ cmd: 'hotswap:stats' }, 2000)
    } catch {
      return null
    }
  }

  /** The watchdog's event-loop ping: its RSS, or null when its event loop does not answer in time. */
  async ping (timeoutMs: number): Promise<PingValue | null> {
    try {
      return await this.rpc.request({ cmd: 'hotswap:ping' }, timeoutMs)
    } catch {
      return null
    }
  }

  /** The watchdog's HTTP check, asked of the worker (it has the app's server; the port is shared). */
  async healthCheck (path: string, timeoutMs: number): Promise<HealthValue> {
    try {
      return await this.rpc.request({ cmd: 'hotswap:health', path, timeoutMs }, timeoutMs + 500)
    } catch (err) {
      return { status: null, error: `no answer: ${(err as Error).message}` }
    }
  }

  /**
   * Stops it: a live worker is asked to drain and exit, one still starting gets SIGTERM;
   * SIGKILL if it is still there 1.5 s after `timeoutMs`. Resolves once it is dead.
   */
  async stop (timeoutMs: number): Promise<void> {
    const wasLive = isLive(this)
    this.#setState('stopping')
    if (wasLive) {
      this.rpc.request({ cmd: 'hotswap:shutdown', timeoutMs }, timeoutMs + 1000).catch(() => {})
    } else if (this.#state !== 'dead') {
      this.worker.process.kill('SIGTERM')
    }
    const timer = setTimeout(() => {
      this.#log.warn(`worker ${this.id} (pid ${this.pid}) did not stop within ${timeoutMs} ms; killing it`)
      this.worker.process.kill('SIGKILL')
    }, timeoutMs + 1500)
    await this.exited
    clearTimeout(timer)
  }

  /** The one place the state changes; returns false (and changes nothing) for a move NEXT refuses. */
  #setState (next: WorkerState): boolean {
    if (!NEXT[this.#state].includes(next)) return false
    this.#state = next
    return true
  }

  #becomeReady (how: string): void {
    if (!this.#setState('ready')) return
    clearTimeout(this.#listenTimer)
    this.#log.info(`worker ${this.id} ready (${how})`)
    this.#markReady()
  }

  #gone (code: number | null, signal: string | null): void {
    this.#setState('dead')
    this.rpc.failAll(new HotswapError('HOTSWAP_ERR_WORKER_FAILED', `worker ${this.id} (pid ${this.pid}) exited`))
    this.#markExited()
    this.#policy.exit(this, code, signal)
  }

  #noteStartupError (why: string): void {
    this.#startupError = why
    this.#policy.startupError(why)
  }

  /**
   * Re-emits worker output through the primary's logger, one record per log entry of the app
   * (a stack trace, a JSON line with its fields) and per record of the worker's runtime
   * (logs/worker-output.ts).
   */
  #pipeOutput (): void {
    const logger = this.#log.child({ role: `worker ${this.id}`, workerPid: this.pid })
    for (const [stream, name] of [[this.worker.process.stdout, 'stdout'], [this.worker.process.stderr, 'stderr']] as const) {
      if (stream === null || stream === undefined) continue
      const output = new WorkerOutput(name, (r) => {
        logger.log(r.level, r.message, r.own ? { ...r.fields, workerPid: this.pid } : r.fields)
        if (r.own && typeof r.fields.startupError === 'string') this.#noteStartupError(r.fields.startupError)
      })
      stream.on('data', (chunk: Buffer) => output.push(chunk))
      stream.on('end', () => output.end())
    }
  }
}
