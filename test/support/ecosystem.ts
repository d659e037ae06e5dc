// Plumbing for the ecosystem tests (issue 6): run a real example app (a framework or an ORM)
// under `hotswap serve`, keep HTTP or HTTPS load on it, push several databases, and hold it to
// the invariants: no failed request, no torn read, the new label after every `cp` returns.

import { execFileSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { seed, tempDir } from './files.js'
import { cli, ROOT, startServe, type Served } from './serve.js'
import { waitUntil } from './wait.js'

/** An example app: examples/NAME/app.mjs, or another file of it (app.cjs for a CommonJS one). */
export function example (name: string, file = 'app.mjs'): string {
  return join(ROOT, 'examples', name, file)
}

/** A self-signed certificate for localhost, made with openssl (node:crypto makes no X.509). */
export function makeCert (dir: string): { keyPath: string, certPath: string, cert: Buffer } {
  const keyPath = join(dir, 'key.pem')
  const certPath = join(dir, 'cert.pem')
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
      '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' })
  } catch (err) {
    throw new Error(`openssl is needed to make a self-signed certificate for the https test: ${(err as Error).message}`)
  }
  return { keyPath, certPath, cert: readFileSync(certPath) }
}

export interface Target {
  port: number
  /** The certificate to trust (it is its own CA); HTTPS when set. */
  ca?: Buffer
  agent: http.Agent
}

export function target (port: number, ca?: Buffer): Target {
  const options = { keepAlive: true, maxSockets: 64 }
  return { port, ca, agent: ca === undefined ? new http.Agent(options) : new https.Agent({ ...options, ca, checkServerIdentity: () => undefined }) }
}

export interface Reply { status: number, body: string }

/** One request; `keepAlive: false` dials a fresh connection (which any worker may accept). */
export async function send (t: Target, method: string, path: string, keepAlive = true): Promise<Reply> {
  const lib = t.ca === undefined ? http : https
  return await new Promise((resolve, reject) => {
    const agent = keepAlive ? t.agent : (t.ca === undefined ? false : new https.Agent({ keepAlive: false, ca: t.ca, checkServerIdentity: () => undefined }))
    const req = lib.request({ host: '127.0.0.1', port: t.port, method, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

export interface SwapLoadOptions {
  /** The app to serve (an example's app.mjs). */
  app: string
  /** How many databases are pushed, one after another, under load. */
  swaps?: number
  workers?: number
  concurrency?: number
  /** Mix writes (POST /items, in the ORM's transaction) into the load. */
  writes?: boolean
  https?: boolean
}

export interface SwapLoadResult { ok: number, swaps: number }

function rowsFor (i: number): number {
  return 10 + i * 3
}

/**
 * Seeds v0 (live) and v1..vN, serves `app` with 2 workers, keeps `concurrency` requests in
 * flight (GET /label, GET /torn, and POST /items with `writes`), pushes v1..vN with the real
 * CLI, and after each push checks that fresh and reused connections read the new label.
 * Every response is checked: /torn's two reads come from one database whose seeded row count
 * is known. Stops everything and removes the temp folder, whatever happens.
 */
export async function swapsUnderLoad (tt: TestContext, opts: SwapLoadOptions): Promise<SwapLoadResult> {
  const swaps = opts.swaps ?? 3
  const writes = opts.writes ?? false
  const t = tempDir()
  const rows = new Map<string, number>()
  const live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0', rows: rowsFor(0) })
  rows.set('v0', rowsFor(0))
  for (let i = 1; i <= swaps; i++) {
    seed(join(t.dir, `v${i}.sqlite3`), { label: `v${i}`, rows: rowsFor(i) })
    rows.set(`v${i}`, rowsFor(i))
  }
  let env: Record<string, string> | undefined
  let ca: Buffer | undefined
  if (opts.https === true) {
    const cert = makeCert(t.dir)
    env = { TLS_KEY: cert.keyPath, TLS_CERT: cert.certPath }
    ca = cert.cert
  }
  let served: Served
  try {
    served = await startServe({ dir: t.dir, dbs: [live], app: opts.app, workers: opts.workers ?? 2, env })
  } catch (err) {
    t.cleanup()
    throw err
  }
  const tgt = target(served.port, ca)
  const stats = { ok: 0, failed: 0, bad: 0, errors: [] as string[] }
  let running = true
  let exitCode: number | null = null
  try {
    assert.equal(served.child.exitCode, null, `serve did not start: ${served.output().slice(-3000)}`)
    const check = (method: string, path: string, body: Record<string, unknown>): string | null => {
      if (path.startsWith('/torn')) {
        const { first, second, firstCount, secondCount } = body as { first: string, second: string, firstCount: number, secondCount: number }
        if (first !== second) return `torn label: ${first} then ${second}`
        const base = rows.get(first)
        if (base === undefined) return `unknown label ${first}`
        if (!writes && (firstCount !== base || secondCount !== base)) return `counts ${firstCount}/${secondCount}, ${first} has ${base}`
        if (writes && (firstCount < base || secondCount < firstCount)) return `counts ${firstCount} then ${secondCount}, ${first} was seeded with ${base}`
        return null
      }
      const base = rows.get(String(body.label))
      if (base === undefined) return `unknown label ${String(body.label)}`
      if (method === 'POST' && !(Number(body.count) > base)) return `count ${String(body.count)} after an insert into ${String(body.label)} (seeded ${base})`
      return null
    }
    const mix: Array<[string, string]> = [['GET', '/label'], ['GET', '/torn?ms=3'], ...(writes ? [['POST', '/items'] as [string, string]] : []), ['GET', '/torn?ms=1']]
    let n = 0
    const loop = async (): Promise<void> => {
      while (running) {
        const [method, path] = mix[n++ % mix.length] as [string, string]
        try {
          const res = await send(tgt, method, path)
          const problem = res.status === 200 ? check(method, path, JSON.parse(res.body) as Record<string, unknown>) : `HTTP ${res.status} ${res.body.slice(0, 200)}`
          if (problem === null) {
            stats.ok++
          } else {
            if (res.status === 200) stats.bad++
            else stats.failed++
            if (stats.errors.length < 20) stats.errors.push(`${method} ${path}: ${problem}`)
          }
        } catch (err) {
          stats.failed++
          if (stats.errors.length < 20) stats.errors.push(`${method} ${path}: ${(err as Error).message}`)
        }
      }
    }
    const loops = Array.from({ length: opts.concurrency ?? 8 }, async () => await loop())
    try {
      for (let i = 1; i <= swaps; i++) {
        // Some traffic between pushes, so every push happens under load (a count, not a time).
        const before = stats.ok
        await waitUntil('requests to be served', () => stats.ok >= before + 20 || stats.failed + stats.bad > 0, 30_000)
        const label = `v${i}`
        const res = await cli(['cp', join(t.dir, `${label}.sqlite3`), live, '--socket', served.socket], { cwd: t.dir })
        assert.equal(res.code, 0, `push ${label}: ${res.stderr}`)
        assert.equal(res.stdout.toString(), 'OK\n')
        assert.equal(res.stderr, '', 'a push prints nothing on stderr when it is not a terminal')
        // A request started after cp returned reads the new file: on fresh connections (any
        // worker) and on kept-alive ones opened before the swap.
        const probes = await Promise.all([
          ...Array.from({ length: 4 }, async () => await send(tgt, 'GET', '/label', false)),
          ...Array.from({ length: 4 }, async () => await send(tgt, 'GET', '/label')),
          send(tgt, 'GET', '/torn?ms=1', false),
        ])
        for (const p of probes) {
          assert.equal(p.status, 200, p.body)
          const body = JSON.parse(p.body) as Record<string, unknown>
          assert.equal(body.label ?? body.first, label, `a request started after the push of ${label} returned read ${p.body}`)
        }
      }
    } finally {
      running = false
      await Promise.all(loops)
    }
    assert.equal(stats.failed, 0, `failed requests: ${stats.errors.join('; ')}`)
    assert.equal(stats.bad, 0, `torn or wrong reads: ${stats.errors.join('; ')}`)
    assert.ok(stats.ok > 0)
    tt.diagnostic(`${stats.ok} requests served during ${swaps} swaps, none failed or torn`)
  } finally {
    running = false
    tgt.agent.destroy()
    exitCode = await served.stop()
    t.cleanup()
  }
  assert.equal(exitCode, 0, `serve exits 0 on SIGTERM; output:\n${served.output().slice(-3000)}`)
  return { ok: stats.ok, swaps }
}
