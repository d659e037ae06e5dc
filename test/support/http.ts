// HTTP against a served app: one request, probes started at once on fresh and reused
// connections, a bounded load generator that checks bodies, and a
// tracked load that knows which worker owned each connection, so that every failure under a
// fault is pinned on the worker whose connection it was (or on the primary's death).

import assert from 'node:assert/strict'
import http from 'node:http'
import type net from 'node:net'
import { sleep } from './wait.js'

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

export interface HttpResult {
  status: number
  body: string
  json: () => Record<string, unknown>
}

export async function request (port: number, path: string, opts: { method?: string, timeoutMs?: number, keepAlive?: boolean } = {}): Promise<HttpResult> {
  return await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.keepAlive === false ? false : agent,
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as Record<string, unknown> }))
      res.on('error', reject)
    })
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`request ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

export interface LoadStats {
  ok: number
  failed: number
  /** When each failure happened (Date.now()), in order. */
  failedAt: number[]
  errors: string[]
  /** Responses whose body failed the check (torn reads, wrong data). */
  bad: number
  badBodies: string[]
}

/**
 * Keeps `concurrency` requests in flight until stop() (bounded by `maxMs` anyway), on keep-alive
 * connections unless `keepAlive: false` (then each request on a new one).
 * `check` returns an error string for a bad body, or null.
 */
export function load (port: number, opts: { paths: string[], concurrency?: number, maxMs?: number, keepAlive?: boolean, check?: (path: string, body: Record<string, unknown>) => string | null }): { stop: () => Promise<LoadStats>, stats: LoadStats } {
  const stats: LoadStats = { ok: 0, failed: 0, failedAt: [], errors: [], bad: 0, badBodies: [] }
  let running = true
  const started = Date.now()
  const maxMs = opts.maxMs ?? 120_000
  let i = 0
  const loop = async (): Promise<void> => {
    while (running && Date.now() - started < maxMs) {
      const path = opts.paths[i++ % opts.paths.length] as string
      try {
        const res = await request(port, path, { keepAlive: opts.keepAlive })
        if (res.status !== 200) {
          stats.failed++
          stats.failedAt.push(Date.now())
          if (stats.errors.length < 20) stats.errors.push(`${path}: HTTP ${res.status} ${res.body.slice(0, 200)}`)
          continue
        }
        const problem = opts.check?.(path, res.json()) ?? null
        if (problem !== null) {
          stats.bad++
          if (stats.badBodies.length < 20) stats.badBodies.push(`${path}: ${problem}`)
        } else {
          stats.ok++
        }
      } catch (err) {
        stats.failed++
        stats.failedAt.push(Date.now())
        if (stats.errors.length < 20) stats.errors.push(`${path}: ${(err as Error).message}`)
      }
    }
  }
  const loops = Array.from({ length: opts.concurrency ?? 8 }, async () => await loop())
  return {
    stats,
    stop: async () => {
      running = false
      await Promise.all(loops)
      return stats
    },
  }
}

/**
 * load() on fresh connections and on keep-alive ones at once, `concurrency` loops each: the
 * primary hands some fresh ones to a worker that just started, while the reused ones stay with
 * the workers they had (those must drain them). stop() stops both: their stats, fresh first.
 */
export function freshAndReusedLoad (port: number, opts: { paths: string[], concurrency: number }): { stop: () => Promise<LoadStats[]> } {
  const fresh = load(port, { ...opts, keepAlive: false })
  const reused = load(port, opts)
  return { stop: async () => await Promise.all([fresh.stop(), reused.stop()]) }
}

export interface LoadFailure {
  at: number
  path: string
  error: string
  /** The worker that answered the last response on this connection; null on a fresh one. */
  pid: number | null
  /** Set when the server answered with something other than 200. */
  status?: number
}

/**
 * `concurrency` loops, each on its own keep-alive connection, so every connection's worker is
 * known from its responses. A request that fails on a connection whose last response came from
 * a worker that was then killed is that worker's; anything else is unexplained.
 */
export class TrackedLoad {
  ok = 0
  readonly failures: LoadFailure[] = []
  readonly bad: string[] = []
  readonly byPid = new Map<number, number>()
  #running = true
  readonly #loops: Array<Promise<void>>
  readonly #agents: http.Agent[] = []

  constructor (port: number, opts: { paths?: string[], concurrency?: number, maxMs?: number } = {}) {
    const paths = opts.paths ?? ['/label', '/torn?ms=3']
    const started = Date.now()
    const maxMs = opts.maxMs ?? 180_000
    this.#loops = Array.from({ length: opts.concurrency ?? 4 }, async (_, n) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      this.#agents.push(agent)
      const owner = new WeakMap<net.Socket, number>()
      let i = n
      while (this.#running && Date.now() - started < maxMs) {
        const path = paths[i++ % paths.length] as string
        const failed = this.failures.length
        await this.#one(port, path, agent, owner)
        // A client backs off after a broken connection. Reconnecting in the same instant a
        // worker dies can hang: node:cluster's primary may hand the new connection to the dying
        // worker, and when no "accepted" reply comes back it neither closes nor re-routes it
        // (lib/internal/cluster/round_robin_handle.js, handoff). That is node's, not a swap's.
        if (this.failures.length > failed) await sleep(100)
      }
    })
  }

  async #one (port: number, path: string, agent: http.Agent, owner: WeakMap<net.Socket, number>): Promise<void> {
    await new Promise<void>((resolve) => {
      let socket: net.Socket | null = null
      const fail = (error: string, status?: number, pid?: number): void => {
        const f: LoadFailure = { at: Date.now(), path, error, pid: pid ?? (socket === null ? null : owner.get(socket) ?? null) }
        if (status !== undefined) f.status = status
        this.failures.push(f)
        resolve()
      }
      const req = http.request({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => { body += d })
        res.on('error', (err) => fail(err.message))
        res.on('end', () => {
          let parsed: Record<string, unknown>
          try {
            parsed = JSON.parse(body) as Record<string, unknown>
          } catch {
            fail(`unparsable body: ${body.slice(0, 100)}`, res.statusCode)
            return
          }
          const pid = Number(parsed.pid)
          if (socket !== null && Number.isInteger(pid)) owner.set(socket, pid)
          if (res.statusCode !== 200) {
            fail(`HTTP ${String(res.statusCode)} ${body.slice(0, 200)}`, res.statusCode, pid)
            return
          }
          if (path.startsWith('/torn') && (parsed.first !== parsed.second || parsed.firstCount !== parsed.secondCount)) {
            this.bad.push(`${path}: ${body}`)
          }
          this.ok++
          this.byPid.set(pid, (this.byPid.get(pid) ?? 0) + 1)
          resolve()
        })
      })
      req.on('socket', (s: net.Socket) => { socket = s })
      req.setTimeout(20_000, () => req.destroy(new Error(`request ${path} timed out`)))
      req.on('error', (err) => fail(err.message))
      req.end()
    })
  }

  async stop (): Promise<this> {
    this.#running = false
    await Promise.all(this.#loops)
    for (const a of this.#agents) a.destroy()
    return this
  }

  /**
   * Failures not explained by the faults: a connection of a killed worker, or any request
   * after `serverDownAt` (the primary was killed: its listening socket went with it).
   */
  unexplained (killed: Iterable<number> = [], serverDownAt = Infinity): LoadFailure[] {
    const k = new Set(killed)
    return this.failures.filter((f) => !(f.status === undefined && f.pid !== null && k.has(f.pid)) && !(f.at >= serverDownAt))
  }

  summary (): string {
    return `${this.ok} ok, ${this.failures.length} failed, ${this.bad.length} torn`
  }
}

/** The label `n` fresh connections are served (each must answer 200). */
export async function labels (port: number, n = 4): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(port, '/label', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    out.push(String(res.json().label))
  }
  return out
}

/**
 * Requests started now, all at once: `n` of `path` on fresh connections (the primary hands each
 * to any worker), `n` on reused keep-alive ones (opened before whatever just happened), and one
 * of `torn` on a fresh connection. Each must answer 200; their bodies, as text and parsed.
 */
export async function probeAll (port: number, path: string, torn: string, n = 4): Promise<Array<{ raw: string, body: Record<string, unknown> }>> {
  const probes = await Promise.all([
    ...Array.from({ length: n }, async () => await request(port, path, { keepAlive: false })),
    ...Array.from({ length: n }, async () => await request(port, path)),
    request(port, torn, { keepAlive: false }),
  ])
  return probes.map((p) => {
    assert.equal(p.status, 200, p.body)
    return { raw: p.body, body: p.json() }
  })
}

/** A request that reports as soon as the response headers arrive, and again when it ends. */
export function openRequest (port: number, path: string): { headers: Promise<number>, done: Promise<{ status: number, body: string } | Error> } {
  let onHeaders!: (status: number) => void
  let onHeadersFailed!: (err: Error) => void
  const headers = new Promise<number>((resolve, reject) => { onHeaders = resolve; onHeadersFailed = reject })
  headers.catch(() => {})
  const done = new Promise<{ status: number, body: string } | Error>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      onHeaders(res.statusCode ?? 0)
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', (err) => resolve(err))
      res.on('aborted', () => resolve(new Error('response aborted')))
    })
    req.on('error', (err) => { onHeadersFailed(err); resolve(err) })
  })
  return { headers, done }
}

/** Runs `fn` while a TrackedLoad runs against `port`; the load is stopped before this returns, also when `fn` throws. */
export async function underLoad<T> (port: number, opts: ConstructorParameters<typeof TrackedLoad>[1], fn: () => Promise<T>): Promise<{ result: T, load: TrackedLoad }> {
  const load = new TrackedLoad(port, opts)
  try {
    return { result: await fn(), load }
  } finally {
    await load.stop()
  }
}
