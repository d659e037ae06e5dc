// What a server says about itself: `status --json` tells the truth (the primary, every worker,
// every database, counts that add up across requests and swaps), and logs go as JSON lines to
// stdout and to --log-file, every worker's lines tagged, --log-format beating HOTSWAP_LOG_FORMAT.

import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { cli, isAlive, request, seed, type Served, statusJson, versionedServers, waitUntil } from '../support/index.js'

const { project, serve, workersOf } = versionedServers()
let main: Served
let mainDir: string
let live: string
let logFile: string

before(async () => {
  const p = project()
  mainDir = p.dir
  live = p.live
  logFile = join(mainDir, 'hotswap.log')
  // The flag must beat the environment: HOTSWAP_LOG_FORMAT=pretty, --log-format json.
  main = await serve({ dir: mainDir, dbs: [live], workers: 2, env: { HOTSWAP_LOG_FORMAT: 'pretty' }, args: ['--log-format', 'json', '--log-file', logFile] })
})

test('status --json: the primary, every worker and every database, with true values', async (t) => {
  const startedAt = Date.now()
  const before = await statusJson(main.socket, mainDir)
  await workersOf(main)
  assert.equal(before.primary.pid, main.pid, 'primary.pid is the serve process')
  assert.ok(isAlive(before.primary.pid))
  assert.equal(before.primary.socket, main.socket)
  assert.match(before.primary.version, /^\d+\.\d+\.\d+/)
  assert.equal(typeof before.primary.uptimeMs, 'number')
  assert.equal(before.workers.length, 2, 'as many workers as --workers')
  assert.deepEqual(before.workers.map((w) => w.id).sort(), [1, 2])
  assert.equal(new Set(before.workers.map((w) => w.pid)).size, 2, 'distinct worker pids')
  for (const w of before.workers) {
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

test('status (text): the primary with its RSS, every worker, every database with its last swap', async () => {
  // After the pushes of the test above: the README's "hotswap status" block shows these lines.
  const res = await cli(['status', '--socket', main.socket], { cwd: mainDir })
  assert.equal(res.code, 0, res.stderr)
  const st = await statusJson(main.socket, mainDir)
  const lines = res.stdout.toString().trimEnd().split('\n')
  const lit = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const bytes = '[\\d.]+ (B|KiB|MiB|GiB)'
  assert.match(lines[0] ?? '', new RegExp(`^hotswap \\S+  primary pid ${main.pid}  up \\d+ s  rss ${bytes}  socket ${lit(main.socket)}$`))
  assert.equal(lines[1], `app ${st.primary.app.path}${st.primary.app.path === st.primary.app.resolved ? '' : `  (at the last fork: ${st.primary.app.resolved ?? 'missing'})`}`)
  assert.equal(lines[2], `workers: ${st.workers.length} of ${st.workers.length} ready`)
  for (const [i, w] of st.workers.entries()) {
    assert.match(lines[3 + i] ?? '', new RegExp(`^  ${w.id}  pid ${w.pid}  ready  up \\d+ s  restarts 0  rss ${bytes}  in flight \\d+  served \\d+$`))
  }
  assert.equal(lines[3 + st.workers.length], 'databases:')
  const db = st.databases[0]
  assert.ok(db !== undefined && db.lastSwapAt !== null)
  assert.match(lines[4 + st.workers.length] ?? '', new RegExp(`^  live  ${lit(db.path)}  ${bytes}  wal  generation ${db.generation} \\(${db.kept} kept\\)  swaps ${db.swaps}  last swap ${new Date(db.lastSwapAt).toISOString()}  last pause [\\d.]+ ms$`))
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
