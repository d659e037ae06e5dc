// The fault kit: the checks every fault ends with, a request held in flight, a kill timed on a
// log line, child clients left running so they can be killed, an outside process holding the
// database, a seedable PRNG for fuzzing, and report(), the line scripts/reliability.mjs sums.
//
//   fault ─▶ checkAfterFault: integrity_check ok · label is the old or the pushed one ·
//            no .hotswap- file beside the database · every worker answers · status answers

import { spawn, type ChildProcess } from 'node:child_process'
import assert from 'node:assert/strict'
import { closeSync, openSync } from 'node:fs'
import http from 'node:http'
import { dirname, join } from 'node:path'
import { integrity, labelOf, seed, waitNoLeftovers } from './files.js'
import { labels, request, type HttpResult } from './http.js'
import { BIN, cli, fixture, type Served } from './serve.js'
import { status, waitWorkers } from './socket.js'
import { isAlive, sleep } from './wait.js'

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

/** Any command of the real CLI, left running (`logs --follow`) so a test can signal it. */
export function cliChild (args: string[], cwd: string): Child {
  return track(spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }))
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

/** The next push still works: a fresh file labelled `label`, pushed with the real CLI, prints OK and is served. */
export async function pushOk (served: Served, label: string): Promise<void> {
  const src = join(served.dir, `${label}.sqlite3`)
  seed(src, { label })
  const res = await cli(['cp', src, 'live.sqlite3', '--socket', served.socket], { cwd: served.dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.deepEqual(await labels(served.port), [label, label, label, label])
}

/** The server still does its job: it runs, `status --json` answers over the socket, and every fresh connection is served `label`. */
export async function assertStillServing (served: Served, label: string, workers = 2): Promise<void> {
  assert.equal(served.child.exitCode, null, 'the server is still running')
  const report = await status(served.socket)
  assert.equal(report.workers.length, workers)
  assert.equal(report.databases[0]?.name, 'live')
  assert.deepEqual(await labels(served.port), [label, label, label, label])
}
