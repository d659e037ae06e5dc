// The supervisor: forks the app workers with node:cluster, answers their start handshake,
// restarts the ones that crash, and stops them all on shutdown. A planned exit (shutdown, a
// kill after a failed resume) is told apart from a crash, and only a crash restarts.
//
//   fork ─▶ starting ──hello──▶ online ──listening──▶ listening ─┬─▶ stopping ─▶ dead (planned)
//                                                               └─────────────▶ dead (crash → restart)

import cluster, { type Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'
import { HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { isHotswapMessage, type DatabaseInfo, type HelloValue, type PrimaryRequest, type StatsValue, type WorkerRequest } from '../shared/messages.js'
import { Rpc } from '../shared/rpc.js'

export type WorkerState = 'starting' | 'online' | 'listening' | 'stopping' | 'dead'

export interface ManagedWorker {
  /** Stable slot number (1..N); a replacement takes the slot of the worker it replaces. */
  id: number
  worker: Worker
  pid: number
  state: WorkerState
  rpc: Rpc<PrimaryRequest>
  startedAt: number
  planned: boolean
}

export interface SupervisorOptions {
  app: string
  workers: number
  port?: number
  databases: DatabaseInfo[]
  logger: Logger
  /** A worker that exits sooner than this after its start counts as a crash loop. */
  minUptimeMs?: number
  /** Consecutive quick crashes after which a slot is not restarted any more. */
  maxRestarts?: number
}

const BOOTSTRAP = fileURLToPath(new URL('../worker/bootstrap.js', import.meta.url))

export class Supervisor extends EventEmitter {
  readonly #opts: Required<Omit<SupervisorOptions, 'port'>> & { port?: number }
  readonly #workers = new Map<number, ManagedWorker>() // by cluster worker id
  readonly #restarts = new Map<number, { count: number, quick: number, timer?: NodeJS.Timeout }>()
  #holdHellos = false
  #heldHellos: Array<() => void> = []
  #stopping = false

  constructor (opts: SupervisorOptions) {
    super()
    this.#opts = { minUptimeMs: 1000, maxRestarts: 10, ...opts }
  }

  get log (): Logger {
    return this.#opts.logger
  }

  start (): void {
    cluster.setupPrimary({ exec: BOOTSTRAP, args: [], silent: false })
    for (let slot = 1; slot <= this.#opts.workers; slot++) this.#fork(slot)
  }

  /** Workers that answered the handshake and are not on their way out. */
  live (): ManagedWorker[] {
    return [...this.#workers.values()].filter((w) => w.state === 'online' || w.state === 'listening')
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
  }

  async stats (w: ManagedWorker): Promise<StatsValue | null> {
    try {
      return await w.rpc.request<StatsValue>({ cmd: 'hotswap:stats' }, 2000)
    } catch {
      return null
    }
  }

  /** Kills a worker that cannot serve (e.g. it failed to reopen); its slot restarts. */
  recycle (w: ManagedWorker, reason: string): void {
    this.log.error(`recycling worker ${w.id} (pid ${w.pid}): ${reason}`)
    w.worker.process.kill('SIGKILL')
  }

  /** Planned stop: every worker drains and exits; stragglers are killed after the timeout. */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopping = true
    for (const r of this.#restarts.values()) clearTimeout(r.timer)
    this.releaseHellos()
    const exits = this.all().filter((w) => w.state !== 'dead').map(async (w) => {
      w.planned = true
      const exited = new Promise<void>((resolve) => {
        if (w.state === 'dead') resolve()
        else w.worker.once('exit', () => resolve())
      })
      const wasLive = w.state === 'online' || w.state === 'listening'
      w.state = 'stopping'
      if (wasLive) {
        w.rpc.request({ cmd: 'hotswap:shutdown', timeoutMs }, timeoutMs + 1000).catch(() => {})
      } else {
        w.worker.process.kill('SIGTERM')
      }
      const timer = setTimeout(() => {
        this.log.warn(`worker ${w.id} (pid ${w.pid}) did not stop within ${timeoutMs} ms; killing it`)
        w.worker.process.kill('SIGKILL')
      }, timeoutMs + 1500)
      await exited
      clearTimeout(timer)
    })
    await Promise.all(exits)
  }

  #fork (slot: number): void {
    const env: Record<string, string> = {
      HOTSWAP_APP: this.#opts.app,
      HOTSWAP_WORKER_ID: String(slot),
    }
    if (this.#opts.port !== undefined) env.PORT = String(this.#opts.port)
    const worker = cluster.fork(env)
    const pid = worker.process.pid ?? -1
    const managed: ManagedWorker = {
      id: slot,
      worker,
      pid,
      state: 'starting',
      rpc: new Rpc<PrimaryRequest>((msg) => worker.isConnected() && worker.send(msg)),
      startedAt: Date.now(),
      planned: false,
    }
    this.#workers.set(worker.id, managed)
    this.log.info(`worker ${slot} started (pid ${pid})`)

    worker.on('message', (msg: unknown) => {
      if (!isHotswapMessage(msg)) return
      if (msg.cmd === 'hotswap:reply') {
        managed.rpc.handleReply(msg)
        return
      }
      if (msg.cmd === 'hotswap:hello') this.#onHello(managed, msg)
    })
    worker.on('listening', (address) => {
      if (managed.state === 'online' || managed.state === 'starting') managed.state = 'listening'
      this.log.info(`worker ${slot} listening on ${address.address ?? '*'}:${address.port}`)
      this.emit('listening', managed, address)
    })
    worker.on('exit', (code, signal) => this.#onExit(managed, code, signal))
    worker.on('error', (err) => this.log.warn(`worker ${slot} IPC error: ${err.message}`))
  }

  #onHello (w: ManagedWorker, msg: Extract<WorkerRequest, { cmd: 'hotswap:hello' }>): void {
    const answer = (): void => {
      if (w.state !== 'starting') return
      w.state = 'online'
      const value: HelloValue = { databases: this.#opts.databases }
      if (w.worker.isConnected()) w.worker.send({ cmd: 'hotswap:reply', seq: msg.seq, ok: true, value })
      this.emit('online', w)
    }
    if (this.#holdHellos) {
      this.log.info(`worker ${w.id} started during a swap; it waits paused until the swap ends`)
      this.#heldHellos.push(answer)
    } else {
      answer()
    }
  }

  #onExit (w: ManagedWorker, code: number | null, signal: string | null): void {
    const wasPlanned = w.planned || this.#stopping
    w.state = 'dead'
    this.#workers.delete(w.worker.id)
    w.rpc.failAll(new HotswapError('HOTSWAP_ERR_WORKER_FAILED', `worker ${w.id} (pid ${w.pid}) exited`))
    this.emit('exit', w)
    const how = signal !== null ? `signal ${signal}` : `code ${String(code)}`
    if (wasPlanned) {
      this.log.info(`worker ${w.id} (pid ${w.pid}) stopped (${how})`)
      return
    }
    const uptime = Date.now() - w.startedAt
    const r = this.#restarts.get(w.id) ?? { count: 0, quick: 0 }
    this.#restarts.set(w.id, r)
    r.quick = uptime < this.#opts.minUptimeMs ? r.quick + 1 : 0
    if (r.quick > this.#opts.maxRestarts) {
      this.log.error(`worker ${w.id} crashed ${r.quick} times in a row within ${this.#opts.minUptimeMs} ms of starting; ` +
        'not restarting it again (crash loop). The other workers keep serving.')
      this.emit('crash-loop', w)
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
}
