// The request gate: the one place that decides whether a request runs now or waits for a swap.
//
//   'request' event ──▶ gate open?  ── yes ─▶ in flight (until the response closes) ─▶ app
//                                 └── no ──▶ queue ── resume ─▶ in flight ─▶ app
//
// A pause holds new requests only; requests already in flight keep full database access until
// they finish. Refusing access at the moment of the pause turned into hundreds of HTTP 500s.
//
// The open path runs for every request, so it allocates nothing of its own: the response
// itself is the in-flight record (its start time under a symbol), and one shared 'close'
// listener ends it. Only a request that has to wait gets a queue entry.
//
// A long-lived response (server-sent events, a long poll) would hold every drain until the
// drain timeout: release(res) stops counting it. A drain that waits logs what it waits for.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { HotswapError } from '../shared/errors.js'
import { getLogger } from '../shared/logger.js'
import type { InFlightRequest } from '../shared/messages.js'

/** A drain still waiting after this long (or half its timeout) logs what it waits for (--drain-warning). */
export const DRAIN_WARN_MS = 1000

const RELEASE_HINT = 'a response that stays open without using the database (server-sent events, a stream) ' +
  'can call release(res) from hotswap, so that swaps do not wait for it'

/** What the gate calls to run a request: the server's original emit. */
export type Emit = (this: unknown, event: string, req: IncomingMessage, res: ServerResponse) => unknown

interface Task {
  label: string
  startedAt: number
}

interface Queued {
  server: unknown
  emit: Emit
  req: IncomingMessage
  res: ServerResponse
}

const kStartedAt = Symbol('hotswap.startedAt')
const kGone = Symbol('hotswap.gone')

type Tracked = ServerResponse & { [kStartedAt]?: number, [kGone]?: boolean }

/** Marks a queued response whose client went away while it waited. */
function onQueuedClose (this: Tracked): void {
  this[kGone] = true
}

export class Gate {
  #open = true
  readonly #responses = new Set<Tracked>()
  readonly #tasks = new Set<Task>()
  readonly #queue: Queued[] = []
  #drainWaiters: Array<() => void> = []
  #resumeWaiters: Array<() => void> = []
  served = 0
  queuedTotal = 0
  #closingConnections = false

  /** One listener for every response: `this` is the response that closed. */
  readonly #onClose: (this: Tracked) => void

  constructor () {
    const gate = this
    this.#onClose = function (this: Tracked) {
      if (gate.#responses.delete(this) && gate.inFlight === 0) gate.#drained()
    }
  }

  get isOpen (): boolean {
    return this.#open
  }

  get inFlight (): number {
    return this.#responses.size + this.#tasks.size
  }

  get queued (): number {
    return this.#queue.length
  }

  inFlightList (now = Date.now()): InFlightRequest[] {
    const list: InFlightRequest[] = []
    for (const res of this.#responses) {
      const req = (res as ServerResponse & { req?: IncomingMessage }).req
      list.push({ method: req?.method ?? '', url: req?.url ?? '', ageMs: now - (res[kStartedAt] ?? now) })
    }
    for (const t of this.#tasks) list.push({ method: 'TASK', url: t.label, ageMs: now - t.startedAt })
    return list
  }

  /** Runs the request now, or after the swap; counts it until its response closes. */
  admit (server: unknown, emit: Emit, req: IncomingMessage, res: ServerResponse): void {
    if (this.#closingConnections) noKeepAlive(res)
    if (this.#open) {
      this.#start(res)
      emit.call(server, 'request', req, res)
      return
    }
    this.queuedTotal++
    res.on('close', onQueuedClose)
    this.#queue.push({ server, emit, req, res })
  }

  #start (res: Tracked): void {
    res[kStartedAt] = Date.now()
    this.#responses.add(res)
    this.served++
    res.on('close', this.#onClose)
  }

  /**
   * The app's word that this response no longer uses the database (an event stream after its
   * headers): it stops counting as in flight, so drains do not wait for it. Returns false when
   * the response was not in flight (already ended or released, or not gated).
   */
  release (res: ServerResponse): boolean {
    const t = res as Tracked
    if (!this.#responses.delete(t)) return false
    t.off('close', this.#onClose)
    if (this.inFlight === 0) this.#drained()
    return true
  }

  /** Background work counted as in flight: it waits during a pause, and a pause waits for it. */
  async run<T> (label: string, fn: () => T | Promise<T>): Promise<T> {
    while (!this.#open) await new Promise<void>((resolve) => this.#resumeWaiters.push(resolve))
    const task: Task = { label, startedAt: Date.now() }
    this.#tasks.add(task)
    try {
      return await fn()
    } finally {
      if (this.#tasks.delete(task) && this.inFlight === 0) this.#drained()
    }
  }

  close (): void {
    this.#open = false
  }

  /**
   * The worker is stopping: every response from now on (those of requests in flight and of
   * requests queued by a pause included) asks the client to close its keep-alive connection, so the client does not reuse a
   * socket this worker is about to close.
   */
  closeConnectionsAfterResponse (): void {
    this.#closingConnections = true
    for (const res of this.#responses) noKeepAlive(res)
    // Those queued by a pause too: admitted before this, they would be answered keep-alive when
    // released, and the client would send its next request on a connection about to be closed.
    for (const q of this.#queue) noKeepAlive(q.res)
  }

  /**
   * Resolves once nothing is in flight; rejects after `timeoutMs`, naming what still runs.
   * One still waiting after `warnMs` (or half the timeout) logs a warning naming the requests,
   * so a stalled swap says why while it stalls. `purpose` names the waiter in that line.
   */
  async drain (timeoutMs: number, purpose = 'the swap', warnMs = DRAIN_WARN_MS): Promise<void> {
    if (this.inFlight === 0) return
    const started = Date.now()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearTimeout(warn)
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== done)
        const list = this.inFlightList()
        reject(new HotswapError('HOTSWAP_ERR_DRAIN_TIMEOUT',
          `worker ${process.pid} still had ${list.length} request(s) in flight after ${timeoutMs} ms`,
          [...list.map((r) => `${r.method} ${r.url} (running for ${r.ageMs} ms)`), RELEASE_HINT]))
      }, timeoutMs)
      const warn = setTimeout(() => {
        const list = this.inFlightList()
        const worker = process.env.HOTSWAP_WORKER_ID ?? String(process.pid)
        getLogger(`worker ${worker}`).warn(
          `${purpose} waits for ${list.length} request(s) in flight on worker ${worker} (pid ${process.pid}) after ${Date.now() - started} ms ` +
          `(it gives up after ${timeoutMs} ms): ${list.map((r) => `${r.method} ${r.url} (running for ${r.ageMs} ms)`).join(', ')}; ${RELEASE_HINT}`,
          { event: 'drain-wait', worker: Number(worker), waitedMs: Date.now() - started, inFlight: list })
      }, Math.min(warnMs, timeoutMs / 2))
      const done = (): void => {
        clearTimeout(timer)
        clearTimeout(warn)
        resolve()
      }
      this.#drainWaiters.push(done)
    })
  }

  /** Opens the gate and releases everything queued, oldest first. Returns how many ran. */
  open (): number {
    this.#open = true
    let released = 0
    const queue = this.#queue.splice(0)
    for (const q of queue) {
      // The client went away while it waited: there is nobody to answer.
      q.res.off('close', onQueuedClose)
      if ((q.res as Tracked)[kGone] === true) continue
      this.#start(q.res)
      released++
      try {
        q.emit.call(q.server, 'request', q.req, q.res)
      } catch (err) {
        // Keep the semantics of a throwing 'request' listener: an uncaught exception.
        process.nextTick(() => { throw err })
      }
    }
    const waiters = this.#resumeWaiters.splice(0)
    for (const w of waiters) w()
    return released
  }

  /**
   * Answers every queued request with `status` (and Retry-After, Connection: close) without
   * running it, then opens the gate. For a worker that cannot serve them (its database did not
   * reopen): the client retries on a fresh connection. Returns how many were answered.
   */
  refuseQueued (status: number, message: string): number {
    let answered = 0
    for (const q of this.#queue.splice(0)) {
      q.res.off('close', onQueuedClose)
      if ((q.res as Tracked)[kGone] === true) continue
      answered++
      try {
        if (!q.res.headersSent) {
          q.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1', ...('shouldKeepAlive' in q.res ? { connection: 'close' } : {}) })
        }
        q.res.end(message + '\n')
      } catch {
        q.res.destroy()
      }
    }
    this.open()
    return answered
  }

  #drained (): void {
    // Runs whenever the last response closes, so mostly with nobody waiting: no new array then.
    if (this.#drainWaiters.length === 0) return
    const waiters = this.#drainWaiters.splice(0)
    for (const w of waiters) w()
  }
}

function noKeepAlive (res: ServerResponse): void {
  // HTTP/2 has no keep-alive to refuse (and forbids the Connection header).
  if (res.headersSent || !('shouldKeepAlive' in res)) return
  res.shouldKeepAlive = false
  res.setHeader('connection', 'close')
}
