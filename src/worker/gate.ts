// The request gate: the one place that decides whether a request runs now or waits for a swap.
//
//   'request' event ──▶ gate open?  ── yes ─▶ in flight (until the response closes) ─▶ app
//                                 └── no ──▶ queue ── resume ─▶ in flight ─▶ app
//
// A pause holds new requests only; requests already in flight keep full database access until
// they finish. Refusing access at the moment of the pause turned into hundreds of HTTP 500s.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { HotswapError } from '../shared/errors.js'
import type { InFlightRequest } from '../shared/messages.js'

interface Work {
  label: string
  method: string
  startedAt: number
  res?: ServerResponse
}

interface Queued {
  run: () => void
  closed: boolean
  start: () => void
}

export class Gate {
  #open = true
  readonly #inFlight = new Set<Work>()
  readonly #queue: Queued[] = []
  #drainWaiters: Array<() => void> = []
  #resumeWaiters: Array<() => void> = []
  served = 0
  queuedTotal = 0
  #closingConnections = false

  get isOpen (): boolean {
    return this.#open
  }

  get inFlight (): number {
    return this.#inFlight.size
  }

  get queued (): number {
    return this.#queue.length
  }

  inFlightList (now = Date.now()): InFlightRequest[] {
    return [...this.#inFlight].map((w) => ({ method: w.method, url: w.label, ageMs: now - w.startedAt }))
  }

  /** Runs `run` now, or after the swap; counts the request until its response closes. */
  admitRequest (req: IncomingMessage, res: ServerResponse, run: () => void): void {
    const work: Work = { label: req.url ?? '', method: req.method ?? '', startedAt: 0, res }
    if (this.#closingConnections) noKeepAlive(res)
    let started = false
    const entry: Queued = {
      run,
      closed: false,
      start: () => {
        started = true
        work.startedAt = Date.now()
        this.#inFlight.add(work)
        this.served++
      },
    }
    res.once('close', () => {
      entry.closed = true
      if (started) this.#finish(work)
    })
    if (this.#open) {
      entry.start()
      run()
      return
    }
    this.queuedTotal++
    this.#queue.push(entry)
  }

  /** Background work counted as in flight: it waits during a pause, and a pause waits for it. */
  async run<T> (label: string, fn: () => T | Promise<T>): Promise<T> {
    while (!this.#open) await new Promise<void>((resolve) => this.#resumeWaiters.push(resolve))
    const work: Work = { label, method: 'TASK', startedAt: Date.now() }
    this.#inFlight.add(work)
    try {
      return await fn()
    } finally {
      this.#finish(work)
    }
  }

  close (): void {
    this.#open = false
  }

  /**
   * The worker is stopping: every response from now on (and those of requests in flight)
   * asks the client to close its keep-alive connection, so the client does not reuse a
   * socket this worker is about to close.
   */
  closeConnectionsAfterResponse (): void {
    this.#closingConnections = true
    for (const w of this.#inFlight) if (w.res !== undefined) noKeepAlive(w.res)
  }

  /** Resolves once nothing is in flight; rejects after `timeoutMs`, naming what still runs. */
  async drain (timeoutMs: number): Promise<void> {
    if (this.#inFlight.size === 0) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== done)
        const list = this.inFlightList()
        reject(new HotswapError('HOTSWAP_ERR_DRAIN_TIMEOUT',
          `worker ${process.pid} still had ${list.length} request(s) in flight after ${timeoutMs} ms`,
          list.map((r) => `${r.method} ${r.url} (running for ${r.ageMs} ms)`)))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
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
    for (const entry of queue) {
      if (entry.closed) continue // The client went away while it waited.
      entry.start()
      released++
      try {
        entry.run()
      } catch (err) {
        // Keep the semantics of a throwing 'request' listener: an uncaught exception.
        process.nextTick(() => { throw err })
      }
    }
    const waiters = this.#resumeWaiters.splice(0)
    for (const w of waiters) w()
    return released
  }

  #finish (work: Work): void {
    if (!this.#inFlight.delete(work)) return
    if (this.#inFlight.size === 0) {
      const waiters = this.#drainWaiters.splice(0)
      for (const w of waiters) w()
    }
  }
}

function noKeepAlive (res: ServerResponse): void {
  if (res.headersSent) return
  res.shouldKeepAlive = false
  res.setHeader('connection', 'close')
}
