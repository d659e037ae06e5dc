// Supervision (issue 3): status --json tells the truth, logs go to a JSON file with every
// worker's lines tagged, a crashed worker is replaced, an app that cannot start trips the
// crash-loop guard instead of looping, and shutdown is graceful (in-flight requests finish, the
// socket and the -wal are gone) with the kill timeout enforced on a worker that will not stop.
//
// One long-lived server (`main`, 2 workers) for the first tests, stopped with SIGTERM by the
// shutdown test; the others start their own small servers.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, fixture, isAlive, request, seed, type Served, startServe, statusJson, tempDir, waitExit, waitUntil } from '../support/index.js'

const servers: Served[] = []
const dirs: Array<ReturnType<typeof tempDir>> = []
/** Every worker pid a test saw, killed in `after` if one is somehow still alive. */
const workerPids = new Set<number>()

let main: Served
let mainDir: string
let live: string
let logFile: string

/** A folder with a seeded WAL database (label v1) and the VERSION file versioned-app.mjs reads. */
function project (version = 'v1'): { dir: string, live: string } {
  const t = tempDir()
  dirs.push(t)
  const db = join(t.dir, 'live.sqlite3')
  seed(db, { label: 'v1' })
  writeFileSync(join(t.dir, 'VERSION'), version)
  return { dir: t.dir, live: db }
}

async function serve (opts: Parameters<typeof startServe>[0]): Promise<Served> {
  const s = await startServe({ app: fixture('versioned-app.mjs'), ...opts })
  servers.push(s)
  return s
}

async function workersOf (s: Served): Promise<Array<{ id: number, pid: number, state: string, restarts: number }>> {
  const st = await statusJson(s.socket, s.dir)
  for (const w of st.workers) workerPids.add(w.pid)
  return st.workers
}

/** A request that reports as soon as the response headers arrive, and again when it ends. */
function openRequest (port: number, path: string): { headers: Promise<number>, done: Promise<{ status: number, body: string } | Error> } {
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

function countItems (path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT count(*) FROM items').pluck().get() as number
  } finally {
    db.close()
  }
}

function countLines (text: string, pattern: RegExp): number {
  return text.split('\n').filter((l) => pattern.test(l)).length
}

before(async () => {
  const p = project()
  mainDir = p.dir
  live = p.live
  logFile = join(mainDir, 'hotswap.log')
  // The flag must beat the environment: HOTSWAP_LOG_FORMAT=pretty, --log-format json.
  main = await serve({ dir: mainDir, dbs: [live], workers: 2, env: { HOTSWAP_LOG_FORMAT: 'pretty' }, args: ['--log-format', 'json', '--log-file', logFile] })
})

after(async () => {
  for (const s of servers) await s.stop()
  for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  for (const d of dirs) d.cleanup()
})

test('status --json: the primary, every worker and every database, with true values', async (t) => {
  const startedAt = Date.now()
  const before = await statusJson(main.socket, mainDir)
  assert.equal(before.primary.pid, main.pid, 'primary.pid is the serve process')
  assert.ok(isAlive(before.primary.pid))
  assert.equal(before.primary.socket, main.socket)
  assert.match(before.primary.version, /^\d+\.\d+\.\d+/)
  assert.equal(typeof before.primary.uptimeMs, 'number')
  assert.equal(before.workers.length, 2, 'as many workers as --workers')
  assert.deepEqual(before.workers.map((w) => w.id).sort(), [1, 2])
  assert.equal(new Set(before.workers.map((w) => w.pid)).size, 2, 'distinct worker pids')
  for (const w of before.workers) {
    workerPids.add(w.pid)
    assert.ok(isAlive(w.pid), `worker ${w.id} (pid ${w.pid}) is alive`)
    assert.notEqual(w.pid, main.pid)
    assert.equal(w.state, 'ready')
    assert.equal(w.restarts, 0)
    assert.equal(typeof w.rss, 'number')
    assert.equal(w.inFlight, 0)
    assert.equal(typeof w.served, 'number')
  }
  assert.equal(before.databases.length, 1)
  const db0 = before.databases[0]
  assert.ok(db0 !== undefined)
  assert.equal(db0.name, 'live')
  assert.equal(db0.path, realpathSync(live))
  assert.equal(db0.journalMode, 'wal')
  assert.equal(db0.size, statSync(live).size)
  assert.equal(db0.swaps, 0)
  assert.equal(db0.lastPauseMs, null)

  // Requests on fresh connections reach both workers; every one is counted.
  const REQUESTS = 30
  const servedBefore = before.workers.reduce((n, w) => n + (w.served ?? 0), 0)
  const pids = new Set<number>()
  for (let i = 0; i < REQUESTS; i++) {
    const res = await request(main.port, '/version', { keepAlive: false })
    assert.equal(res.status, 200)
    pids.add(res.json().pid as number)
  }
  assert.deepEqual([...pids].sort(), before.workers.map((w) => w.pid).sort(), 'the requests reached exactly the listed workers')

  const PUSHES = 2
  for (let i = 1; i <= PUSHES; i++) {
    const next = join(mainDir, `next${i}.sqlite3`)
    seed(next, { label: `pushed${i}` })
    const res = await cli(['cp', next, live, '--socket', main.socket], { cwd: mainDir })
    assert.equal(res.code, 0, res.stderr)
  }
  const afterPush = await statusJson(main.socket, mainDir)
  const served = afterPush.workers.reduce((n, w) => n + (w.served ?? 0), 0)
  t.diagnostic(`served ${servedBefore} before, ${served} after ${REQUESTS} requests`)
  assert.ok(served >= servedBefore + REQUESTS, `served counts (${served}) add up to at least the ${REQUESTS} requests made`)
  assert.deepEqual(afterPush.workers.map((w) => w.pid).sort(), before.workers.map((w) => w.pid).sort(), 'a swap restarts no worker')
  const db1 = afterPush.databases[0]
  assert.ok(db1 !== undefined)
  assert.equal(db1.swaps, PUSHES, 'swaps counts the pushes')
  assert.equal(typeof db1.lastPauseMs, 'number')
  assert.ok((db1.lastPauseMs as number) >= 0)
  assert.equal(typeof db1.lastSwapAt, 'number')
  assert.ok((db1.lastSwapAt as number) >= startedAt - 1000)
  assert.equal(db1.journalMode, 'wal', 'the journal mode travels with the live database')
  assert.equal(db1.size, statSync(live).size)
  t.diagnostic(`last pause window ${String(db1.lastPauseMs)} ms`)
  assert.equal((await request(main.port, '/version')).json().label, `pushed${PUSHES}`)
})

test('--log-format json beats HOTSWAP_LOG_FORMAT; --log-file gets JSON lines, worker lines tagged', async () => {
  // The app prints one plain line to stdout when it listens; it must come through tagged.
  const lines = await waitUntil('the log file to hold both workers\' app lines', () => {
    if (!existsSync(logFile)) return false
    const parsed = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
    const appLines = parsed.filter((l) => /^versioned-app v1 listening/.test(String(l.message)))
    return appLines.length >= 2 ? parsed : false
  })
  for (const l of lines) {
    assert.equal(typeof l.level, 'string')
    assert.equal(typeof l.message, 'string')
    assert.equal(typeof l.timestamp, 'string')
  }
  const roles = new Set(lines.map((l) => l.role))
  for (const role of ['primary', 'supervisor', 'control', 'worker 1', 'worker 2']) assert.ok(roles.has(role), `a line with role "${role}"; roles: ${[...roles].join(', ')}`)
  const app1 = lines.find((l) => l.role === 'worker 1' && /^versioned-app v1 listening/.test(String(l.message)))
  assert.ok(app1 !== undefined, 'the app\'s own stdout line, tagged worker 1')
  assert.equal(app1.stream, 'stdout')
  assert.equal(typeof app1.workerPid, 'number')
  assert.equal(app1.message, `versioned-app v1 listening in pid ${String(app1.workerPid)}`)
  const appRoles = lines.filter((l) => /^versioned-app v1 listening/.test(String(l.message))).map((l) => l.role).sort()
  assert.deepEqual(appRoles, ['worker 1', 'worker 2'], 'each worker\'s line is tagged with its own worker')

  // stdout is JSON too, although the environment asked for pretty.
  const out = main.output().split('\n').filter((l) => l.trim() !== '')
  assert.ok(out.length > 0)
  for (const l of out) assert.ok(l.startsWith('{'), `a JSON line on stdout, not: ${l}`)
})

test('a worker killed with SIGKILL is replaced in its slot and the app keeps serving', async (t) => {
  const before = await workersOf(main)
  const victim = before.find((w) => w.id === 1)
  const other = before.find((w) => w.id === 2)
  assert.ok(victim !== undefined && other !== undefined)
  const killedAt = Date.now()
  process.kill(victim.pid, 'SIGKILL')
  const replaced = await waitUntil('slot 1 to be ready on a new pid', async () => {
    const ws = await workersOf(main)
    const w = ws.find((x) => x.id === 1)
    return w !== undefined && w.pid !== victim.pid && w.state === 'ready' ? ws : false
  }, 30_000)
  t.diagnostic(`slot 1 ready again ${Date.now() - killedAt} ms after SIGKILL`)
  const fresh = replaced.find((w) => w.id === 1)
  assert.ok(fresh !== undefined)
  assert.equal(fresh.restarts, 1, 'status counts the restart')
  assert.equal(replaced.length, 2)
  assert.equal(replaced.find((w) => w.id === 2)?.pid, other.pid, 'the other worker was left alone')
  assert.equal(replaced.find((w) => w.id === 2)?.restarts, 0)
  assert.equal(isAlive(victim.pid), false)
  assert.ok(main.logs().some((l) => l.role === 'supervisor' && String(l.message).startsWith(`worker 1 (pid ${victim.pid}) died (signal SIGKILL)`)))
  const pids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const res = await request(main.port, '/version', { keepAlive: false })
    assert.equal(res.status, 200)
    pids.add(res.json().pid as number)
  }
  assert.deepEqual([...pids].sort(), [fresh.pid, other.pid].sort(), 'both slots serve')
})

test('SIGTERM: in-flight requests complete, exit 0, socket removed, -wal checkpointed away', async (t) => {
  const seeded = countItems(live)
  for (let i = 0; i < 10; i++) assert.equal((await request(main.port, '/write?n=50')).status, 200)
  assert.ok(existsSync(`${live}-wal`) && statSync(`${live}-wal`).size > 0, 'the writes sit in the -wal while serving')
  const ws = await workersOf(main)

  // Long enough that polling with the real `status` CLI sees all four in flight at once.
  const slow = Array.from({ length: 4 }, () => openRequest(main.port, '/slow?ms=3000'))
  await waitUntil('4 slow requests in flight', async () => {
    const st = await statusJson(main.socket, mainDir)
    return st.workers.reduce((n, w) => n + (w.inFlight ?? 0), 0) >= 4
  })
  const t0 = Date.now()
  process.kill(main.pid, 'SIGTERM')
  const results = await Promise.all(slow.map(async (r) => await r.done))
  for (const r of results) {
    assert.ok(!(r instanceof Error), `an in-flight request failed: ${String(r)}`)
    assert.equal(r.status, 200)
  }
  const code = await waitExit(main)
  t.diagnostic(`serve exited ${Date.now() - t0} ms after SIGTERM`)
  assert.equal(code, 0)
  assert.equal(existsSync(main.socket), false, 'socket removed')
  for (const w of ws) assert.equal(isAlive(w.pid), false, `worker ${w.id} (pid ${w.pid}) is gone`)
  const wal = `${live}-wal`
  assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'no -wal left with frames in it')
  assert.equal(countItems(live), seeded + 500, 'every committed write is in the main file')
  assert.ok(main.logs().some((l) => l.role === 'primary' && l.message === 'SIGTERM: shutting down'))
  assert.ok(main.logs().some((l) => l.role === 'primary' && l.message === 'stopped'))
  // The file logger is flushed before exit: the last line made it into the file.
  const last = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.ok(last.some((l) => l.message === 'stopped'), 'the log file ends with the shutdown')
})

test('an app that throws at start-up trips the crash-loop guard; serve exits 1 naming the failure', async (t) => {
  const p = project()
  const t0 = Date.now()
  // --min-uptime is generous so that a start slowed down by a busy machine still counts as quick.
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), args: ['--max-restarts', '2', '--min-uptime', '20000'], waitListening: 0,
  })
  servers.push(s)
  const code = await waitExit(s, 60_000).catch((err: Error) => { throw new Error(`${err.message}; output:\n${s.output().slice(-4000)}`) })
  t.diagnostic(`serve gave up and exited ${Date.now() - t0} ms after start`)
  assert.equal(code, 1)
  const out = s.output()
  const sup = s.logs().filter((l) => l.role === 'supervisor').map((l) => String(l.message))
  for (const slot of [1, 2]) {
    // One start plus --max-restarts restarts, then the guard: no loop.
    assert.equal(sup.filter((m) => m.startsWith(`worker ${slot} started`)).length, 3, `slot ${slot} started 3 times`)
    assert.ok(sup.includes(`worker ${slot} crashed 3 times in a row, each within 20000 ms of starting; not restarting it again (crash loop). The other workers keep serving.`),
      `slot ${slot}'s crash-loop message; supervisor said:\n${sup.join('\n')}`)
  }
  assert.ok(s.logs().some((l) => l.role === 'worker 1' && l.startupError === 'the app failed to start: Error: crash-at-start fixture: the app cannot start'),
    'the worker\'s start-up error is logged, tagged with the worker')
  assert.equal(countLines(out, /^ERROR /), 1, `exactly one ERROR line:\n${out.slice(-3000)}`)
  assert.match(out, /^ERROR \[HOTSWAP_ERR_CONFIG\] no worker could be kept running: the app failed to start: Error: crash-at-start fixture: the app cannot start$/m)
  assert.equal(existsSync(s.socket), false, 'socket removed')
})

test('one slot that crash-loops is given up; the healthy worker keeps serving and serve stays up', async () => {
  const p = project()
  const s = await startServe({
    dir: p.dir, dbs: [p.live], workers: 2, app: fixture('crash-at-start.mjs'), env: { CRASH_WORKER: '2' }, args: ['--max-restarts', '2', '--min-uptime', '20000'], waitListening: 1,
  })
  servers.push(s)
  await s.waitForLog(/^worker 2 crashed 3 times in a row/, 60_000)
  assert.equal(s.child.exitCode, null, 'serve is still running')
  const ws = await workersOf(s)
  assert.deepEqual(ws.map((w) => [w.id, w.state]), [[1, 'ready']], 'only the healthy slot is listed')
  for (let i = 0; i < 6; i++) {
    const res = await request(s.port, '/version', { keepAlive: false })
    assert.equal(res.status, 200)
    assert.equal(res.json().pid, ws[0]?.pid)
  }
  assert.equal(s.logs().filter((l) => /^worker 1 started/.test(String(l.message))).length, 1, 'the healthy slot was never restarted')
  assert.equal(s.output().includes('ERROR ['), false)
  assert.equal(await s.stop(), 0)
})

test('the kill timeout: a drain that never ends and a worker that cannot hear "stop" both end; serve exits 0', async (t) => {
  const [hang, block] = await Promise.all([project(), project()].map(async (p) => await serve({ dir: p.dir, dbs: [p.live], workers: 1, args: ['--kill-timeout', '500'] })))
  assert.ok(hang !== undefined && block !== undefined)
  const [hangWorker] = await workersOf(hang)
  const [blockWorker] = await workersOf(block)
  assert.ok(hangWorker !== undefined && blockWorker !== undefined)

  // A request that never ends: the worker's drain gives up after --kill-timeout.
  const hung = openRequest(hang.port, '/hang')
  await waitUntil('the /hang request in flight', async () => (await workersOf(hang))[0]?.state === 'ready' &&
    (await statusJson(hang.socket, hang.dir)).workers[0]?.inFlight === 1)
  // A worker whose event loop is blocked never answers the shutdown request: SIGKILL.
  const blocked = openRequest(block.port, '/block')
  assert.equal(await blocked.headers, 200)

  const t0 = Date.now()
  process.kill(hang.pid, 'SIGTERM')
  process.kill(block.pid, 'SIGTERM')
  const [hangCode, blockCode] = await Promise.all([waitExit(hang, 15_000), waitExit(block, 15_000)])
  t.diagnostic(`with --kill-timeout 500: serve exited after ${Date.now() - t0} ms (both)`)
  assert.equal(hangCode, 0)
  assert.equal(blockCode, 0)
  assert.equal(isAlive(hangWorker.pid), false)
  assert.equal(isAlive(blockWorker.pid), false)
  assert.ok(await hung.done instanceof Error, 'the request that never ends is cut off')
  assert.ok(await blocked.done instanceof Error, 'the blocked request is cut off')
  assert.ok(hang.logs().some((l) => l.role === 'worker 1' && /^shutdown: /.test(String(l.message))), `the worker says its drain timed out:\n${hang.output().slice(-2000)}`)
  assert.ok(block.logs().some((l) => l.role === 'supervisor' && l.message === `worker 1 (pid ${blockWorker.pid}) did not stop within 500 ms; killing it`),
    `the supervisor says it killed the worker:\n${block.output().slice(-2000)}`)
  assert.equal(existsSync(hang.socket), false)
  assert.equal(existsSync(block.socket), false)
})

test('a second SIGTERM stops at once, without waiting for the drain', async () => {
  const p = project()
  const s = await serve({ dir: p.dir, dbs: [p.live], workers: 1 })
  const [w] = await workersOf(s)
  assert.ok(w !== undefined)
  const hung = openRequest(s.port, '/hang')
  await waitUntil('the /hang request in flight', async () => (await statusJson(s.socket, s.dir)).workers[0]?.inFlight === 1)
  process.kill(s.pid, 'SIGTERM')
  await s.waitForLog(/^SIGTERM: shutting down$/)
  process.kill(s.pid, 'SIGTERM')
  const code = await waitExit(s)
  assert.equal(code, 1)
  assert.ok(s.logs().some((l) => l.message === 'SIGTERM again: stopping at once'))
  await waitUntil(`worker pid ${w.pid} to be gone`, () => !isAlive(w.pid), 5000)
  assert.ok(await hung.done instanceof Error)
})
