// The app-facing API across swaps (DESIGN.md, "App-facing API" and "Details that matter"):
// statements prepared at start-up keep their modes, transactions, user functions and pragmas
// survive every reopen, two databases are swapped independently, hooks run once per swap,
// unwrapped background access fails with HOTSWAP_ERR_PAUSED while gate() work never fails,
// CommonJS apps, https and http2's compatibility API are gated, and `node app.mjs` runs alone.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, fixture, freePort, labelOf, makeCert, request, seed, type Served, sleep, startServe, statusJson, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
const servers: Served[] = []
const children: ChildProcess[] = []

// The API app's two databases and the files pushed into them.
let api: Served
let mainPath: string
let otherPath: string
const mainRows = (i: number): number => 10 + i

before(async () => {
  t = tempDir()
  mainPath = join(t.dir, 'main.sqlite3')
  otherPath = join(t.dir, 'other.sqlite3')
  seed(mainPath, { label: 'm0', rows: mainRows(0) })
  seed(otherPath, { label: 'o0', rows: 5 })
  api = await serve('api', {
    dbs: [`main=${mainPath}`, `other=${otherPath}`],
    app: fixture('api-app.mjs'),
    workers: 2,
    env: { OTHER_DB_PATH: otherPath },
  })
})

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  const codes = await Promise.all(servers.map(async (s) => await s.stop()))
  t?.cleanup()
  for (const code of codes) assert.equal(code, 0, 'serve exits 0 on SIGTERM')
})

/** Each serve runs in its own folder, so each has its own control socket. */
async function serve (name: string, opts: Omit<Parameters<typeof startServe>[0], 'dir'>): Promise<Served> {
  const dir = join(t.dir, name)
  mkdirSync(dir, { recursive: true })
  const s = await startServe({ dir, ...opts })
  servers.push(s)
  assert.equal(s.child.exitCode, null, `serve ${name} started: ${s.output().slice(-2000)}`)
  return s
}

async function push (s: Served, src: string, dst: string): Promise<void> {
  const res = await cli(['cp', src, dst, '--socket', s.socket], { cwd: t.dir })
  assert.equal(res.code, 0, `push ${src} -> ${dst}: ${res.stderr}`)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(res.stderr, '')
}

function seeded (name: string, label: string, rows: number): string {
  const p = join(t.dir, name)
  seed(p, { label, rows })
  return p
}

/** One reply from each of `workers` workers (fresh connections land on any worker). */
async function fromEachWorker (port: number, path: string, workers = 2): Promise<Array<Record<string, unknown>>> {
  const byPid = new Map<unknown, Record<string, unknown>>()
  for (let i = 0; i < 200 && byPid.size < workers; i++) {
    const res = await request(port, path, { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    const body = res.json()
    if (!byPid.has(body.pid)) byPid.set(body.pid, body)
  }
  assert.equal(byPid.size, workers, `replies from ${workers} workers`)
  return [...byPid.values()]
}

function expectedModes (label: string): Record<string, unknown> {
  return {
    pluck: label,
    raw: [1, 'item0'],
    expand: { items: { id: 1 }, meta: { value: label } },
    safe: 'bigint',
    shout: `${label.toUpperCase()}!`,
    foreignKeys: 1,
    cacheSize: -1234,
    managed: true,
  }
}

function withoutPid (body: Record<string, unknown>): Record<string, unknown> {
  const { pid: _pid, ...rest } = body
  return rest
}

let swaps = 0

test('statements, modes, user functions, pragmas and transactions keep working after every swap', async () => {
  for (const body of await fromEachWorker(api.port, '/modes')) assert.deepEqual(withoutPid(body), expectedModes('m0'))
  for (let i = 1; i <= 3; i++) {
    await push(api, seeded(`m${i}.sqlite3`, `m${i}`, mainRows(i)), 'main')
    swaps++
    for (const body of await fromEachWorker(api.port, '/modes')) {
      assert.deepEqual(withoutPid(body), expectedModes(`m${i}`), `after swap ${i} on pid ${String(body.pid)}`)
    }
  }
  // Transactions prepared at start-up run on the new connection, commit and roll back there.
  const base = mainRows(3)
  let res = await request(api.port, '/tx?n=2', { keepAlive: false })
  assert.deepEqual(withoutPid(res.json()), { count: base + 2, inTransaction: false })
  res = await request(api.port, '/tx?n=1&mode=immediate', { keepAlive: false })
  assert.deepEqual(withoutPid(res.json()), { count: base + 3, inTransaction: false })
  for (const body of await fromEachWorker(api.port, '/txfail')) {
    assert.deepEqual(withoutPid(body), { count: base + 3, error: 'rollback me', inTransaction: false })
  }
})

/** Pushes `src` to `dst`, then asks each worker for /other: its reply (b), and the same worker's in `before` (was). */
async function pushThenOther (src: string, dst: string, before: Array<Record<string, unknown>>): Promise<Array<{ b: Record<string, unknown>, was: Record<string, unknown> }>> {
  await push(api, src, dst)
  swaps++
  const after = await fromEachWorker(api.port, '/other')
  return after.map((b) => ({ b, was: before.find((x) => x.pid === b.pid) as Record<string, unknown> }))
}

test('two databases: by name and by path; a push to one leaves the other open and untouched', async () => {
  const before = await fromEachWorker(api.port, '/other')
  for (const b of before) {
    assert.equal(b.viaName, 'o0')
    assert.equal(b.viaPathCount, 5)
    assert.equal(b.sameHandle, true, 'database(name) and database(path) are one handle')
    assert.equal(b.firstIsMain, true, 'database() is the first --db')
  }
  const otherIno = statSync(otherPath).ino

  const afterMain = await pushThenOther(seeded('m4.sqlite3', 'm4', mainRows(4)), mainPath, before)
  for (const { b, was } of afterMain) {
    assert.equal(b.viaName, 'o0')
    assert.equal(b.viaPathCount, 5)
    assert.equal(b.otherConn, was.otherConn, 'the other database kept its connection')
    assert.notEqual(b.mainConn, was.mainConn, 'the pushed database was reopened')
  }
  assert.equal(statSync(otherPath).ino, otherIno)
  assert.equal(labelOf(otherPath), 'o0')
  let st = await statusJson(api.socket, t.dir)
  assert.deepEqual(st.databases.map((d) => [d.name, d.swaps]), [['main', swaps], ['other', 0]])

  // And the other way round: pushing `other` leaves `main` open.
  for (const { b, was } of await pushThenOther(seeded('o1.sqlite3', 'o1', 7), 'other', afterMain.map(({ b }) => b))) {
    assert.equal(b.viaName, 'o1')
    assert.equal(b.viaPathCount, 7)
    assert.equal(b.mainConn, was.mainConn, 'main kept its connection')
    assert.notEqual(b.otherConn, was.otherConn)
  }
  for (const b of await fromEachWorker(api.port, '/label')) assert.equal(b.label, 'm4')
  st = await statusJson(api.socket, t.dir)
  assert.deepEqual(st.databases.map((d) => [d.name, d.swaps]), [['main', swaps - 1], ['other', 1]])
})

test('onPause and onResume run once per swap, on the old and the new file', async () => {
  for (const h of await fromEachWorker(api.port, '/hooks')) {
    assert.equal(h.pauses, swaps)
    assert.equal(h.resumes, swaps)
    // Main's label as each hook saw it; the last swap was of `other`, so main stayed m4.
    assert.deepEqual(h.pauseSaw, ['m0', 'm1', 'm2', 'm3', 'm4'])
    assert.deepEqual(h.resumeSaw, ['m1', 'm2', 'm3', 'm4', 'm4'])
  }
})

test('background access while closed fails with HOTSWAP_ERR_PAUSED; gate() work never fails', async (tt) => {
  // A slow request keeps one worker draining, so the other sits closed for a while and its
  // 1 ms timers run against the closed database.
  const slow = request(api.port, '/slow?ms=800', { keepAlive: false })
  await sleep(100)
  await push(api, seeded('m5.sqlite3', 'm5', mainRows(5)), 'main')
  swaps++
  const slowRes = await slow
  assert.equal(slowRes.status, 200, slowRes.body)
  assert.equal(slowRes.json().label, 'm4', 'the request in flight at the pause finished on the old file')

  let paused = 0
  for (const b of await fromEachWorker(api.port, '/bg')) {
    const ungated = b.ungated as { ok: number, errors: Record<string, number> }
    const gated = b.gated as { ok: number, errors: Record<string, number> }
    assert.deepEqual(Object.keys(ungated.errors).filter((c) => c !== 'HOTSWAP_ERR_PAUSED'), [], `only coded errors: ${JSON.stringify(ungated.errors)}`)
    assert.deepEqual(gated.errors, {}, 'gate()-wrapped work never fails')
    assert.ok(gated.ok > 0 && ungated.ok > 0)
    paused += ungated.errors.HOTSWAP_ERR_PAUSED ?? 0
    tt.diagnostic(`pid ${String(b.pid)}: ungated ok ${ungated.ok}, errors ${JSON.stringify(ungated.errors)}; gated ok ${gated.ok}`)
  }
  assert.ok(paused > 0, 'some unwrapped access hit the closed database and got HOTSWAP_ERR_PAUSED')
  for (const h of await fromEachWorker(api.port, '/hooks')) assert.equal(h.pauses, swaps)
})

test('a CommonJS app (require("hotswap")) is served and swapped', async () => {
  const live = seeded('cjs.sqlite3', 'c0', 4)
  const s = await serve('cjs', { dbs: [live], app: fixture('cjs-app.cjs'), workers: 1 })
  let res = await request(s.port, '/', { keepAlive: false })
  assert.equal(res.status, 200, `${res.body}\n${s.output().slice(-2000)}`)
  assert.deepEqual(withoutPid(res.json()), { label: 'c0', count: 4, managed: true, commonjs: true })
  await push(s, seeded('c1.sqlite3', 'c1', 9), live)
  res = await request(s.port, '/', { keepAlive: false })
  assert.deepEqual(withoutPid(res.json()), { label: 'c1', count: 9, managed: true, commonjs: true })
  assert.equal(await s.stop(), 0)
})

// --- https and http2 load ----------------------------------------------------------------

interface Stats { ok: number, failed: number, errors: string[] }

/** Keeps `concurrency` calls of `fetch` going until stop(); `check` returns a problem or null. */
function loadWith (fetch: (path: string) => Promise<{ status: number, body: string }>, paths: string[], concurrency: number,
  check: (path: string, body: Record<string, unknown>) => string | null): { stop: () => Promise<Stats> } {
  const stats: Stats = { ok: 0, failed: 0, errors: [] }
  let running = true
  let i = 0
  const fail = (msg: string): void => {
    stats.failed++
    if (stats.errors.length < 20) stats.errors.push(msg)
  }
  const loop = async (): Promise<void> => {
    while (running) {
      const path = paths[i++ % paths.length] as string
      try {
        const res = await fetch(path)
        if (res.status !== 200) { fail(`${path}: HTTP ${res.status} ${res.body.slice(0, 200)}`); continue }
        const problem = check(path, JSON.parse(res.body) as Record<string, unknown>)
        if (problem !== null) fail(`${path}: ${problem}`)
        else stats.ok++
      } catch (err) {
        fail(`${path}: ${(err as Error).message}`)
      }
    }
  }
  const loops = Array.from({ length: concurrency }, async () => await loop())
  return { stop: async () => { running = false; await Promise.all(loops); return stats } }
}

/** Any of the labels pushed so far; /torn must read one database twice. */
function labelCheck (labels: Set<string>) {
  return (path: string, b: Record<string, unknown>): string | null => {
    if (path.startsWith('/torn')) {
      if (b.first !== b.second || b.firstCount !== b.secondCount) return `torn read ${JSON.stringify(b)}`
      return labels.has(String(b.first)) ? null : `unknown label ${String(b.first)}`
    }
    return labels.has(String(b.label)) ? null : `unknown label ${String(b.label)}`
  }
}

/**
 * Swaps `rounds` times while `get` keeps 12 requests to /label and /torn going; after each cp,
 * `probe` must see the new label. No request of the load may fail; its stats are returned.
 */
async function swapsUnderLoad (s: Served, get: (path: string) => Promise<{ status: number, body: string }>,
  prefix: string, rounds: number, labels: Set<string>, probe: () => Promise<string[]>): Promise<Stats> {
  const running = loadWith(get, ['/label', '/torn?ms=3'], 12, labelCheck(labels))
  let stats: Stats
  try {
    for (let i = 1; i <= rounds; i++) {
      const label = `${prefix}${i}`
      labels.add(label)
      await push(s, seeded(`${label}.sqlite3`, label, 20 + i), 'live')
      for (const seen of await probe()) assert.equal(seen, label, `a request after cp ${label} returned`)
    }
  } finally {
    stats = await running.stop()
  }
  assert.equal(stats.failed, 0, stats.errors.join('; '))
  assert.ok(stats.ok > 0)
  return stats
}

test('an https app is gated: swaps under https load fail no request', async (tt) => {
  const { cert, keyPath, certPath } = makeCert(t.dir)
  const live = seeded('https.sqlite3', 'h0', 20)
  const s = await serve('https', { dbs: [`live=${live}`], app: fixture('https-app.mjs'), workers: 2, env: { TLS_KEY: keyPath, TLS_CERT: certPath } })
  // The certificate is its own CA; it names localhost and we dial 127.0.0.1.
  const tls = { ca: cert, checkServerIdentity: () => undefined }
  const agent = new https.Agent({ keepAlive: true, maxSockets: 32, ...tls })
  const get = async (path: string, fresh = false): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: s.port, path, ...(fresh ? { agent: false, ...tls } : { agent }) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.setTimeout(30_000, () => req.destroy(new Error(`https ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
  try {
    const labels = new Set(['h0'])
    assert.equal(JSON.parse((await get('/label', true)).body).label, 'h0')
    const stats = await swapsUnderLoad(s, get, 'h', 5, labels, async () => {
      const replies = await Promise.all([get('/label', true), get('/label', true), get('/label'), get('/label')])
      return replies.map((r) => String(JSON.parse(r.body).label))
    })
    tt.diagnostic(`https: ${stats.ok} requests during 5 swaps`)
  } finally {
    agent.destroy()
  }
  assert.equal(await s.stop(), 0)
})

test('an http2 app (compatibility API) is gated: swaps under h2 load fail no request', async (tt) => {
  const live = seeded('h2.sqlite3', 'g0', 20)
  const s = await serve('http2', { dbs: [`live=${live}`], app: fixture('http2-app.mjs'), workers: 2 })
  const sessions: http2.ClientHttp2Session[] = []
  const connect = (): http2.ClientHttp2Session => {
    const session = http2.connect(`http://127.0.0.1:${s.port}`)
    session.on('error', () => {}) // Each request reports its own failure.
    sessions.push(session)
    return session
  }
  const getOn = async (session: http2.ClientHttp2Session, path: string): Promise<{ status: number, body: string }> =>
    await new Promise((resolve, reject) => {
      const req = session.request({ ':path': path })
      let status = 0
      let body = ''
      req.on('response', (h) => { status = Number(h[':status']) })
      req.setEncoding('utf8')
      req.on('data', (d: string) => { body += d })
      req.on('end', () => resolve({ status, body }))
      req.on('error', reject)
      req.setTimeout(30_000, () => req.close(http2.constants.NGHTTP2_CANCEL))
      req.on('close', () => { if (status === 0) reject(new Error(`h2 ${path} closed without a response`)) })
    })
  try {
    // Each session is one connection, so one worker; several cover both.
    const pool = Array.from({ length: 6 }, () => connect())
    let n = 0
    const get = async (path: string): Promise<{ status: number, body: string }> => await getOn(pool[n++ % pool.length] as http2.ClientHttp2Session, path)
    const labels = new Set(['g0'])
    assert.equal(JSON.parse((await get('/label')).body).label, 'g0')
    const stats = await swapsUnderLoad(s, get, 'g', 5, labels, async () => {
      const fresh = [connect(), connect(), connect()]
      const replies = await Promise.all([...fresh.map(async (f) => await getOn(f, '/label')), get('/label'), get('/label')])
      for (const f of fresh) f.close()
      return replies.map((r) => String(JSON.parse(r.body).label))
    })
    tt.diagnostic(`http2: ${stats.ok} requests during 5 swaps`)
  } finally {
    for (const session of sessions) session.destroy()
  }
  assert.equal(await s.stop(), 0)
})

test('standalone: `node app.mjs` with HOTSWAP_DB opens the file directly and serves', async () => {
  const file = seeded('standalone.sqlite3', 'solo', 6)
  const port = await freePort()
  const child = spawn(process.execPath, [fixture('app.mjs')], {
    cwd: t.dir,
    env: { ...process.env, HOTSWAP_DB: file, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let res
  for (let i = 0; ; i++) {
    try {
      res = await request(port, '/label', { keepAlive: false })
      break
    } catch (err) {
      if (child.exitCode !== null || i > 200) throw new Error(`the standalone app did not start: ${(err as Error).message}\n${out}`)
      await sleep(50)
    }
  }
  assert.equal(res.status, 200, res.body)
  assert.equal(res.json().label, 'solo')
  assert.equal(res.json().pid, child.pid, 'served by the app process itself, no cluster')
  const write = await request(port, '/write?n=2', { keepAlive: false })
  assert.deepEqual(write.json(), { label: 'solo', count: 8 })
  const bg = await request(port, '/background', { keepAlive: false })
  assert.deepEqual(bg.json(), { label: 'solo' })
  child.kill('SIGTERM')
  await exited
  const db = new Database(file, { readonly: true })
  try {
    assert.equal(db.prepare('SELECT count(*) FROM items').pluck().get(), 8, 'the writes went to the file itself')
  } finally {
    db.close()
  }
})
