// Pushes that go wrong at run time: a client that vanishes mid-upload, a worker that will not
// drain, an outside process holding the live database, and two pushes at once. Every failure
// leaves the old database served and the next push working.
//
// Two servers: `quick` drains for at most 300 ms (so a slow request aborts the swap), `patient`
// for up to 60 s (so a swap waits for a slow request).

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { cli, type CliResult, exchange, frame, gemStream, type HttpResult, labelOf, leftovers, request, ROOT, seed, type Served, sleep, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let quick: Served
let patient: Served
let quickLive: string
let patientLive: string
const outsiders: ChildProcess[] = []

before(async () => {
  t = tempDir()
  quickLive = join(t.dir, 'quick', 'live.sqlite3')
  patientLive = join(t.dir, 'patient', 'live.sqlite3')
  for (const p of [quickLive, patientLive]) {
    mkdirSync(join(p, '..'))
    seed(p, { label: 'v1' })
  }
  const [q, p] = await Promise.allSettled([
    startServe({ dir: join(t.dir, 'quick'), dbs: [quickLive], workers: 2, args: ['--drain-timeout', '300'] }),
    startServe({ dir: join(t.dir, 'patient'), dbs: [patientLive], workers: 2, args: ['--drain-timeout', '60000'] }),
  ])
  // Keep whichever started, so `after` stops it even when the other did not.
  if (q.status === 'fulfilled') quick = q.value
  if (p.status === 'fulfilled') patient = p.value
  if (q.status === 'rejected') throw q.reason
  if (p.status === 'rejected') throw p.reason
})

after(async () => {
  for (const child of outsiders) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
  }
  const codes = await Promise.all([quick?.stop(), patient?.stop()])
  t?.cleanup()
  assert.deepEqual(codes, [0, 0], 'both servers exit 0 on SIGTERM')
})

// ---------------------------------------------------------------------------------------------
// plumbing

interface Status { workers: Array<{ pid: number, inFlight: number | null }> }

async function status (s: Served): Promise<Status> {
  const r = await exchange(s.socket, gemStream(['status', '--json']))
  assert.equal(r.control?.exit, 0, r.stderr)
  return JSON.parse(r.stdout.toString('utf8')) as Status
}

/** Waits (bounded) until the server reports `n` requests in flight across its workers. */
async function waitInFlight (s: Served, n: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const st = await status(s)
    if (st.workers.reduce((sum, w) => sum + (w.inFlight ?? 0), 0) >= n) return
    await sleep(20)
  }
  assert.fail(`the server never had ${n} request(s) in flight`)
}

async function cp (s: Served, args: string[]): Promise<CliResult> {
  return await cli(['cp', ...args, '--socket', s.socket], { cwd: s.dir })
}


async function labels (s: Served, n = 4): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(s.port, '/label', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    out.push(String(res.json().label))
  }
  return out
}

/** Asserts a successful push of a fresh file labelled `label`. */
async function pushOk (s: Served, label: string): Promise<void> {
  const src = join(s.dir, `${label}.sqlite3`)
  seed(src, { label })
  const res = await cp(s, [src, 'live.sqlite3'])
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.deepEqual(await labels(s), [label, label, label, label])
}

// ---------------------------------------------------------------------------------------------

test('a client that disconnects mid-upload changes nothing and leaves no temp file', async () => {
  const src = join(quick.dir, 'partial.sqlite3')
  seed(src, { label: 'never', rows: 5000 })
  const bytes = readFileSync(src)
  assert.ok(bytes.length > 100 * 1024)

  const socket = net.connect(quick.socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  // Two whole stdin frames and half of a third; no end-of-input.
  const part = Buffer.concat([
    frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })),
    frame(0, bytes.subarray(0, 32 * 1024)),
    frame(0, bytes.subarray(32 * 1024, 64 * 1024)),
    frame(0, bytes.subarray(64 * 1024, 128 * 1024)).subarray(0, 5 + 16 * 1024),
  ])
  await new Promise<void>((resolve) => socket.write(part, () => resolve()))
  // The upload is under way once its temp file exists beside the live database.
  for (let i = 0; i < 250 && leftovers(quick.dir).length === 0; i++) await sleep(20)
  assert.equal(leftovers(quick.dir).length, 1, 'the server started receiving into a temp file')
  socket.destroy()

  await quick.waitForLog(/command cp failed: \[HOTSWAP_ERR_ABORTED\]/)
  for (let i = 0; i < 100 && leftovers(quick.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(quick.dir), [], 'the temp file is removed')
  assert.equal(labelOf(quickLive), 'v1')
  assert.deepEqual(await labels(quick), ['v1', 'v1', 'v1', 'v1'])
  assert.equal((await status(quick)).workers.length, 2, 'the server still answers commands')

  await pushOk(quick, 'after-disconnect')
})

test('a client that disconnects after the whole file but before end-of-input aborts the push', async () => {
  const before = labelOf(quickLive)
  const src = join(quick.dir, 'no-eof.sqlite3')
  seed(src, { label: 'never-eof' })
  const socket = net.connect(quick.socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const logsBefore = quick.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length
  await new Promise<void>((resolve) => socket.write(Buffer.concat([
    frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })),
    frame(0, readFileSync(src)),
  ]), () => resolve()))
  for (let i = 0; i < 250 && leftovers(quick.dir).length === 0; i++) await sleep(20)
  assert.equal(leftovers(quick.dir).length, 1, 'the server started receiving into a temp file')
  socket.destroy()
  for (let i = 0; i < 500; i++) {
    if (quick.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length > logsBefore) break
    await sleep(20)
  }
  assert.ok(quick.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length > logsBefore, 'the push was aborted')
  for (let i = 0; i < 100 && leftovers(quick.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(quick.dir), [])
  assert.equal(labelOf(quickLive), before)
  assert.deepEqual(await labels(quick), [before, before, before, before])
})

test('a client that disconnects mid-pull leaves no snapshot behind', async () => {
  const current = labelOf(quickLive)
  // A live database large enough that its snapshot takes many stdout frames.
  const big = join(quick.dir, 'big.sqlite3')
  // Larger than what the socket buffers hold (4 MiB queued on our side plus the kernel's).
  seed(big, { label: current, rows: 600_000 })
  const pushed = await cp(quick, [big, 'live.sqlite3'])
  assert.equal(pushed.code, 0, pushed.stderr)

  const socket = net.connect(quick.socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const firstData = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  // Reading stops after the first chunk, so the server runs into backpressure, then the close.
  socket.write(frame(3, JSON.stringify({ args: ['cp', 'live.sqlite3', '-'], tty: false })))
  await firstData
  socket.pause()
  socket.destroy()

  await quick.waitForLog(/command cp failed: \[HOTSWAP_ERR_ABORTED\] the client disconnected during the pull/)
  for (let i = 0; i < 100 && leftovers(quick.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(quick.dir), [], 'the snapshot file is removed')
  assert.deepEqual(await labels(quick), [current, current, current, current])
  await pushOk(quick, 'after-pull-disconnect')
})

test('a worker that does not drain in time aborts the swap, naming the request in flight', async () => {
  const before = labelOf(quickLive)
  // 6 s leaves room for the CLI to start on a loaded machine: the push must pause while the
  // request is still running.
  const slow: Promise<HttpResult> = request(quick.port, '/slow?ms=6000', { keepAlive: false })
  await waitInFlight(quick, 1)

  const src = join(quick.dir, 'drain.sqlite3')
  seed(src, { label: 'never-drained' })
  const res = await cp(quick, [src, 'live.sqlite3'])
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_DRAIN_TIMEOUT\] /)
  assert.match(res.stderr, /GET \/slow\?ms=6000/, 'stderr names the request in flight')
  assert.equal(res.stdout.toString(), '')

  // The swap was called off: the slow request ends normally, on the old data, as do new ones.
  const done = await slow
  assert.equal(done.status, 200)
  assert.equal(done.json().label, before)
  assert.deepEqual(await labels(quick), [before, before, before, before])
  assert.equal(labelOf(quickLive), before)
  assert.deepEqual(leftovers(quick.dir), [])

  await pushOk(quick, 'after-drain-timeout')
})

test('an outside process holding the live database refuses the push; --force swaps anyway', async () => {
  const before = labelOf(quickLive)
  const script = `
    const Database = require(${JSON.stringify(join(ROOT, 'node_modules', 'better-sqlite3'))})
    const db = new Database(${JSON.stringify(quickLive)})
    db.prepare('SELECT count(*) FROM items').get()
    process.stdout.write('ready\\n')
    setInterval(() => {}, 1000)
  `
  const outsider = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  outsiders.push(outsider)
  await new Promise<void>((resolve, reject) => {
    outsider.stdout?.once('data', () => resolve())
    outsider.once('exit', (code) => reject(new Error(`the outside process exited early (${String(code)})`)))
  })
  try {
    const src = join(quick.dir, 'busy.sqlite3')
    seed(src, { label: 'forced' })
    const res = await cp(quick, [src, 'live.sqlite3'])
    assert.equal(res.code, 1, res.stderr)
    assert.match(res.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_DB_BUSY\] /)
    assert.match(res.stderr, new RegExp(`pid ${String(outsider.pid)}\\b`), `names the outside pid; stderr:\n${res.stderr}`)
    assert.match(res.stderr, /--force/)
    assert.deepEqual(await labels(quick), [before, before, before, before])
    assert.equal(labelOf(quickLive), before)
    assert.deepEqual(leftovers(quick.dir), [])

    const forced = await cp(quick, [src, 'live.sqlite3', '--force'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(forced.stdout.toString(), 'OK\n')
    assert.deepEqual(await labels(quick), ['forced', 'forced', 'forced', 'forced'])
    assert.equal(labelOf(quickLive), 'forced')
  } finally {
    process.kill(outsider.pid as number, 'SIGKILL')
    await new Promise<void>((resolve) => {
      if (outsider.exitCode !== null || outsider.signalCode !== null) resolve()
      else outsider.once('exit', () => resolve())
    })
  }
  // Without the outsider, a plain push goes through again.
  await pushOk(quick, 'after-outsider')
})

test('a second cp while one runs waits its turn; both succeed and the second one wins', async () => {
  // A request that would run for 30 s holds the first push in its pause (drain timeout 60 s);
  // the test ends it from the client side once the second push is known to be waiting, so the
  // order of events does not depend on how fast anything starts.
  const slow = http.get({ host: '127.0.0.1', port: patient.port, path: '/slow?ms=30000', agent: false })
  slow.on('error', () => {})
  await waitInFlight(patient, 1)

  const first = join(patient.dir, 'first.sqlite3')
  const second = join(patient.dir, 'second.sqlite3')
  seed(first, { label: 'first' })
  seed(second, { label: 'second' })
  const count = (re: RegExp): number => patient.logs().filter((l) => re.test(String(l.message))).length
  const locksBefore = count(/^lock taken for live$/)
  const waitsBefore = count(/^push to live: waiting for the swap lock$/)

  const pushFirst = cp(patient, [first, 'live.sqlite3'])
  // The first push holds the swap lock and waits for the slow request to drain ...
  for (let i = 0; i < 1500 && count(/^lock taken for live$/) === locksBefore; i++) await sleep(20)
  assert.equal(count(/^lock taken for live$/), locksBefore + 1, 'the first push took the lock')
  // ... when the second one arrives, and waits for the lock.
  const pushSecond = cp(patient, [second, 'live.sqlite3'])
  for (let i = 0; i < 1500 && count(/^push to live: waiting for the swap lock$/) === waitsBefore; i++) await sleep(20)
  assert.equal(count(/^push to live: waiting for the swap lock$/), waitsBefore + 1, 'the second push waits for the lock')
  assert.equal(labelOf(patientLive), 'v1', 'nothing swapped while the first push drains')
  slow.destroy()

  const [a, b] = await Promise.all([pushFirst, pushSecond])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(a.stdout.toString(), 'OK\n')
  assert.equal(b.code, 0, b.stderr)
  assert.equal(b.stdout.toString(), 'OK\n')
  assert.equal(count(/^lock taken for live$/), locksBefore + 2, 'each push took the lock once')
  assert.deepEqual(await labels(patient), ['second', 'second', 'second', 'second'])
  assert.equal(labelOf(patientLive), 'second')
  for (let i = 0; i < 100 && leftovers(patient.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(patient.dir), [])
})
