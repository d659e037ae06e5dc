// Plumbing shared by the fault suite (test/faults/*.test.ts): a raw client in the gem's framing,
// a load generator that knows which worker owned each connection, the checks every fault ends
// with, and a way to kill a process the moment a log line appears.
//
//   fault ─▶ checkAfterFault: integrity_check ok · label is the old or the pushed one ·
//            no .hotswap- file beside the database · every worker answers · status answers
//   load  ─▶ every failure is pinned on the worker whose connection it was (or on the
//            primary's death), so "no request failed except a killed worker's own" is checkable

import { spawn, type ChildProcess } from 'node:child_process'
import assert from 'node:assert/strict'
import { closeSync, openSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { BIN, fixture, integrity, isAlive, labelOf, leftovers, request, seed, sleep, type HttpResult, type Served, takeFrames } from '../helpers.js'

// The fault files import these from here, with the rest of their kit.
export { integrity, leftovers } from '../helpers.js'

// ---------------------------------------------------------------------------------------------
// the gem's framing, written independently of src/

export function frame (channel: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const header = Buffer.alloc(5)
  header.writeUInt8(channel, 0)
  header.writeUInt32BE(body.length, 1)
  return Buffer.concat([header, body])
}

/** A whole request as the gem's client sends it: control frame, stdin frames, end-of-input. */
export function gemStream (args: string[], stdin?: Buffer, frameSize = 64 * 1024): Buffer {
  const parts = [frame(3, JSON.stringify({ args, tty: false }))]
  if (stdin !== undefined) {
    for (let off = 0; off < stdin.length; off += frameSize) parts.push(frame(0, stdin.subarray(off, off + frameSize)))
    parts.push(frame(0, Buffer.alloc(0)))
  }
  return Buffer.concat(parts)
}

export interface ControlReply { exit: number, error?: string, code?: string }

export interface Exchange {
  stdout: Buffer
  stderr: string
  /** The server's last control frame, or null when the connection closed without one. */
  control: ControlReply | null
  /** Frames on a channel other than 1, 2, 3, or a control frame that is not JSON. */
  oddities: string[]
  /** The server had not closed the connection after `timeoutMs`; the client destroyed it. */
  timedOut: boolean
}

/**
 * Writes `bytes` to the socket and reads frames until the server closes. `halfClose` ends the
 * client's side after the write (the server sees end-of-stream at once); otherwise the client
 * waits up to `timeoutMs` for the server to close.
 */
export async function exchange (socketPath: string, bytes: Buffer, opts: { timeoutMs?: number, halfClose?: boolean, pieces?: number } = {}): Promise<Exchange> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    const out: Buffer[] = []
    const oddities: string[] = []
    let stderr = ''
    let control: ControlReply | null = null
    let buf: Buffer = Buffer.alloc(0)
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; socket.destroy() }, opts.timeoutMs ?? 15_000)
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close while we still write; that is an answer too.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') { clearTimeout(timer); reject(err) }
    })
    socket.on('connect', () => {
      const pieces = Math.max(1, opts.pieces ?? 1)
      const size = Math.ceil(bytes.length / pieces)
      for (let off = 0; off < bytes.length; off += size) socket.write(bytes.subarray(off, off + size))
      if (opts.halfClose === true) socket.end()
    })
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const taken = takeFrames(buf)
      buf = taken.rest
      for (const { channel, payload } of taken.frames) {
        if (channel === 1) out.push(payload)
        else if (channel === 2) stderr += payload.toString('utf8')
        else if (channel === 3) {
          try {
            control = JSON.parse(payload.toString('utf8')) as ControlReply
          } catch {
            oddities.push(`control frame is not JSON: ${payload.toString('utf8').slice(0, 80)}`)
          }
        } else oddities.push(`frame on channel ${String(channel)}`)
      }
    })
    socket.on('close', () => {
      clearTimeout(timer)
      if (buf.length > 0) oddities.push(`${buf.length} byte(s) of an unfinished frame at close`)
      resolve({ stdout: Buffer.concat(out), stderr, control, oddities, timedOut })
    })
  })
}

export interface StatusJson {
  primary: { pid: number }
  workers: Array<{ id: number, pid: number, state: string, inFlight: number | null, restarts: number }>
  databases: Array<{ name: string, path: string, swaps: number }>
}

/** `status --json` over the socket, framed by hand (no CLI start-up per call). */
export async function status (socketPath: string): Promise<StatusJson> {
  const r = await exchange(socketPath, gemStream(['status', '--json']), { timeoutMs: 10_000 })
  assert.equal(r.control?.exit, 0, `status answered: ${r.stderr}`)
  return JSON.parse(r.stdout.toString('utf8')) as StatusJson
}

/** Pushes a file over the socket in the gem's framing; returns the server's reply. */
export async function push (socketPath: string, bytes: Buffer, extraArgs: string[] = [], dst = 'live.sqlite3'): Promise<Exchange> {
  return await exchange(socketPath, gemStream(['cp', '-', dst, ...extraArgs], bytes), { timeoutMs: 60_000 })
}

/** Waits until the server reports at least `n` requests in flight; returns the busy workers. */
export async function waitInFlight (socketPath: string, n: number): Promise<StatusJson['workers']> {
  for (let i = 0; i < 500; i++) {
    const st = await status(socketPath)
    const busy = st.workers.filter((w) => (w.inFlight ?? 0) > 0)
    if (busy.reduce((s, w) => s + (w.inFlight ?? 0), 0) >= n) return busy
    await sleep(20)
  }
  throw new Error(`the server never had ${n} request(s) in flight`)
}

/**
 * Starts a request that stays in flight (/slow or /hang) and resolves, once a worker has
 * started it, with that worker's pid and the request's eventual result.
 */
export async function holdRequest (served: Served, path: string): Promise<{ pid: number, done: Promise<HttpResult | Error>, abort: () => void }> {
  const started = onLog(served, /^faults-app: \/(slow|hang) started/)
  let req: http.ClientRequest | undefined
  const done = new Promise<HttpResult>((resolve, reject) => {
    req = http.request({ host: '127.0.0.1', port: served.port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as Record<string, unknown> }))
      res.on('error', reject)
    })
    req.setTimeout(120_000, () => req?.destroy(new Error(`request ${path} timed out`)))
    req.on('error', reject)
    req.end()
  }).catch((err: Error) => err)
  const entry = await started
  return { pid: Number(entry.workerPid), done, abort: () => req?.destroy(new Error('aborted by the test')) }
}

/** Waits until `n` workers are past their handshake and none is starting or dead. */
export async function waitWorkers (socketPath: string, n: number, notPids: number[] = []): Promise<StatusJson['workers']> {
  for (let i = 0; i < 600; i++) {
    const st = await status(socketPath)
    const ok = st.workers.length === n && st.workers.every((w) => !notPids.includes(w.pid) && w.inFlight !== null && (w.state === 'ready' || w.state === 'online'))
    if (ok) return st.workers
    await sleep(25)
  }
  throw new Error(`the server never had ${n} live workers`)
}

// ---------------------------------------------------------------------------------------------
// databases


/** A database with the fixture schema of roughly `mb` megabytes (random names), made fast. */
export function bigDb (path: string, label: string, mb: number): void {
  seed(path, { label, rows: 10, wal: false })
  const db = new Database(path)
  try {
    const rows = Math.round(mb * 1024 * 1024 / 115)
    db.prepare(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
                INSERT INTO items (name, price_cents) SELECT hex(randomblob(50)), i FROM c`).run(rows)
  } finally {
    db.close()
  }
}

/** Every table's rows, in a stable order: equal dumps mean equal data. */
export function dump (path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[]
    return tables.map((t) => `${t}:${JSON.stringify(db.prepare(`SELECT * FROM "${t.replace(/"/g, '""')}" ORDER BY 1`).raw().all())}`).join('\n')
  } finally {
    db.close()
  }
}


/** The old file's link is unlinked just after the resume: give it a moment. */
export async function waitNoLeftovers (dir: string): Promise<string[]> {
  for (let i = 0; i < 150 && leftovers(dir).length > 0; i++) await sleep(20)
  return leftovers(dir)
}

// ---------------------------------------------------------------------------------------------
// the checks every fault ends with

export interface AfterFault {
  live: string
  port: number
  socket: string
  /** Labels the live database may hold: the old one and the one being pushed. */
  allowed: string[]
  workers?: number
}

/**
 * The live file passes integrity_check and holds an allowed label; no temp file is left beside
 * it; every worker answers with that label; the control socket answers. Returns the label.
 */
export async function checkAfterFault (o: AfterFault): Promise<{ label: string, tempLeft: number }> {
  assert.deepEqual(integrity(o.live), ['ok'], 'the live file passes integrity_check')
  const label = labelOf(o.live)
  assert.ok(o.allowed.includes(label), `the live database is ${label}, expected one of ${o.allowed.join(', ')}`)
  const left = await waitNoLeftovers(dirname(o.live))
  assert.deepEqual(left, [], 'no .hotswap- file is left beside the live database')
  const st = await status(o.socket)
  const workers = o.workers ?? 2
  await waitWorkers(o.socket, workers)
  // Fresh connections until every worker has answered, each with the file's label.
  const seen = new Set<number>()
  for (let i = 0; i < 200 && seen.size < workers; i++) {
    const res = await request(o.port, '/label', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.json().label, label, 'the app serves what the file holds')
    seen.add(Number(res.json().pid))
  }
  assert.equal(seen.size, workers, `every worker answered (status lists ${st.workers.length})`)
  return { label, tempLeft: left.length }
}

// ---------------------------------------------------------------------------------------------
// load that knows whose connection failed

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

// ---------------------------------------------------------------------------------------------
// timing a fault on a log line

/**
 * Calls `fn` synchronously with the first JSON log line (primary or worker) whose message
 * matches `pattern`, from the moment the line reaches our pipe: no polling delay between the
 * line and the fault. Lines already printed before the call are not considered.
 */
export async function onLog (served: Served, pattern: RegExp, fn?: (entry: Record<string, unknown>) => void, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return await new Promise((resolve, reject) => {
    let partial = ''
    const streams = [served.child.stdout, served.child.stderr].filter((s) => s !== null)
    const cleanup = (): void => {
      clearTimeout(timer)
      for (const s of streams) s.off('data', listener)
      served.child.off('exit', onExit)
    }
    const listener = (d: string | Buffer): void => {
      partial += d.toString()
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.startsWith('{')) continue
        let entry: Record<string, unknown>
        try { entry = JSON.parse(line) as Record<string, unknown> } catch { continue }
        if (!pattern.test(String(entry.message))) continue
        cleanup()
        try { fn?.(entry) } catch (err) { reject(err); return }
        resolve(entry)
        return
      }
    }
    const onExit = (): void => { cleanup(); reject(new Error(`serve exited before a log line matched ${String(pattern)}`)) }
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no log line matched ${String(pattern)} within ${timeoutMs} ms; output:\n${served.output().slice(-3000)}`)) }, timeoutMs)
    for (const s of streams) s.on('data', listener)
    served.child.once('exit', onExit)
  })
}

/** When each pid was sent SIGKILL by kill(), for telling failures before a fault from after. */
export const killedAt = new Map<number, number>()

export function kill (pid: number): void {
  if (!killedAt.has(pid)) killedAt.set(pid, Date.now())
  try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
}

export async function waitGone (pids: number[], timeoutMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(25)
  return pids.filter(isAlive)
}

/** Counts how many log lines so far match. */
export function countLogs (served: Served, pattern: RegExp): number {
  return served.logs().filter((l) => pattern.test(String(l.message))).length
}

export async function waitLogCount (served: Served, pattern: RegExp, n: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (countLogs(served, pattern) < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} log line(s) matching ${String(pattern)}; output:\n${served.output().slice(-3000)}`)
    await sleep(20)
  }
}

// ---------------------------------------------------------------------------------------------
// child clients

export interface Child { proc: ChildProcess, out: () => string, exited: Promise<number | null> }

function track (proc: ChildProcess): Child {
  let out = ''
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => proc.once('close', (c) => resolve(c)))
  return { proc, out: () => out, exited }
}

/** The real `hotswap cp`, left running so a test can kill it. */
/** The real CLI; with `stdinFile`, its stdin reads that file (for `cp - LIVE`). */
export function cpChild (args: string[], cwd: string, stdinFile?: string): Child {
  const stdin = stdinFile === undefined ? 'ignore' : openSync(stdinFile, 'r')
  try {
    return track(spawn(process.execPath, [BIN, 'cp', ...args], { cwd, stdio: [stdin, 'pipe', 'pipe'] }))
  } finally {
    if (typeof stdin === 'number') closeSync(stdin)
  }
}

/** test/fixtures/raw-client.mjs: sends an upload up to `cut`, says so, and waits to be killed. */
export async function rawClient (socketPath: string, file: string, cut: string, dst = 'live.sqlite3'): Promise<Child & { sent: { sent: number, total: number } }> {
  const c = track(spawn(process.execPath, [fixture('raw-client.mjs'), socketPath, file, cut, dst], { stdio: ['ignore', 'pipe', 'pipe'] }))
  for (let i = 0; i < 1500; i++) {
    const line = c.out().split('\n').find((l) => l.includes('"sent"'))
    if (line !== undefined) return { ...c, sent: JSON.parse(line) as { sent: number, total: number } }
    if (c.proc.exitCode !== null) break
    await sleep(10)
  }
  throw new Error(`raw-client did not send (${cut}): ${c.out()}`)
}

/** One line of the reliability table: printed as a test diagnostic, summed by scripts/reliability.mjs. */
export interface Tally {
  faults: number
  survived: number
  lost: number
  tempLeft: number
  fuzzCases?: number
  /** HTTP requests of the load that ran through the fault, answered and failed. */
  requestsOk?: number
  requestsFailed?: number
}

export function report (t: { diagnostic: (m: string) => void }, kind: string, tally: Tally): void {
  t.diagnostic(`reliability ${JSON.stringify({ kind, ...tally })}`)
}

// ---------------------------------------------------------------------------------------------
// an outside process holding the database

export interface OutsiderReply { cmd: string, ok?: boolean, error?: string, code?: string, label?: string, count?: number, inTransaction?: boolean }

/** test/fixtures/outsider.mjs, driven one command at a time. */
export class Outsider {
  readonly proc: ChildProcess
  readonly #lines: string[] = []
  #waiters: Array<() => void> = []

  constructor (path: string) {
    this.proc = spawn(process.execPath, [fixture('outsider.mjs'), path], { stdio: ['pipe', 'pipe', 'inherit'] })
    let partial = ''
    this.proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      partial += d
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      this.#lines.push(...lines)
      for (const w of this.#waiters.splice(0)) w()
    })
  }

  get pid (): number {
    return this.proc.pid as number
  }

  async #next (): Promise<Record<string, unknown>> {
    for (let i = 0; i < 1000; i++) {
      const line = this.#lines.shift()
      if (line !== undefined) return JSON.parse(line) as Record<string, unknown>
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, 50) })
    }
    throw new Error('the outside process did not answer')
  }

  async ready (): Promise<void> {
    await this.#next()
  }

  async run (cmd: string): Promise<OutsiderReply> {
    this.proc.stdin?.write(cmd + '\n')
    return await this.#next() as unknown as OutsiderReply
  }

  async kill (): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise((resolve) => this.proc.once('exit', resolve))
    kill(this.pid)
    await exited
  }
}

/** mulberry32: a small, fast, seedable PRNG, so a fuzz run can be replayed from its seed. */
export function prng (seedValue: number): () => number {
  let a = seedValue >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
