// Rolling reload: `hotswap reload` and SIGHUP move every worker onto new app code
// under continuous keep-alive traffic with zero failed requests; a new version that cannot start
// or never becomes ready leaves the old workers serving and makes `reload` exit non-zero; and a
// reload and a swap never overlap (they take the swap lock one after the other).
//
// The app is versioned-app.mjs: it reads its code version from VERSION in the server's working
// directory at import time, so rewriting that file and reloading is "deploying new code".

import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, type CliResult, fixture, isAlive, load, type LoadStats, request, seed, type Served, sleep, startServe, statusJson, tempDir, waitUntil } from '../support/index.js'

const CONCURRENCY = 16

const servers: Served[] = []
const dirs: Array<ReturnType<typeof tempDir>> = []
const workerPids = new Set<number>()

/** 4 workers, default ready handshake (listening). */
let four: Served
/**
 * 2 workers with --wait-ready: ready() comes 400 ms after listening, and only while the file
 * READY_GATE exists. --listen-timeout 8000: short enough for the never-ready test, long enough
 * for a start on a busy machine. --drain-timeout 30000: a swap waits for a held request.
 */
let waiting: Served
const READY_GATE = 'ready-gate'

async function project (name: string): Promise<{ dir: string, live: string }> {
  const t = tempDir()
  dirs.push(t)
  const live = join(t.dir, 'live.sqlite3')
  seed(live, { label: `${name}-data` })
  writeFileSync(join(t.dir, 'VERSION'), 'v1')
  return { dir: t.dir, live }
}

before(async () => {
  const a = await project('four')
  const b = await project('waiting')
  writeFileSync(join(b.dir, READY_GATE), '')
  ;[four, waiting] = await Promise.all([
    startServe({ dir: a.dir, dbs: [a.live], workers: 4, app: fixture('versioned-app.mjs') }),
    startServe({
      dir: b.dir, dbs: [b.live], workers: 2, app: fixture('versioned-app.mjs'), env: { READY_DELAY_MS: '400', READY_FILE: READY_GATE },
      args: ['--wait-ready', '--listen-timeout', '8000', '--drain-timeout', '30000'],
    }),
  ])
  servers.push(four, waiting)
})

after(async () => {
  const codes = []
  for (const s of servers) codes.push(await s.stop())
  for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  for (const d of dirs) d.cleanup()
  assert.deepEqual(codes, servers.map(() => 0), 'every server exits 0 on SIGTERM')
})

function setVersion (s: Served, version: string): void {
  writeFileSync(join(s.dir, 'VERSION'), version)
}

async function pidsOf (s: Served): Promise<number[]> {
  const st = await statusJson(s.socket, s.dir)
  for (const w of st.workers) {
    workerPids.add(w.pid)
    assert.equal(w.state, 'ready', `worker ${w.id} is ready`)
  }
  return st.workers.map((w) => w.pid).sort((a, b) => a - b)
}

/**
 * Load on /version, counting the versions that answer; a body with a version outside `allowed`
 * (when given) counts as bad. Keep-alive, unless `fresh`: then every request on a new connection,
 * so the primary's round robin hands some of them to a replacement that listens (keep-alive load
 * stays on the connections it already has).
 */
function traffic (s: Served, allowed: string[] | null, opts: { fresh?: boolean } = {}): { stop: () => Promise<LoadStats>, versions: Map<string, number> } {
  const versions = new Map<string, number>()
  const l = load(s.port, {
    paths: ['/version'],
    concurrency: opts.fresh === true ? 4 : CONCURRENCY,
    keepAlive: opts.fresh !== true,
    maxMs: 60_000,
    check: (_path, body) => {
      const v = String(body.version)
      versions.set(v, (versions.get(v) ?? 0) + 1)
      return allowed === null || allowed.includes(v) ? null : `version ${v} (allowed: ${allowed.join(', ')})`
    },
  })
  return { stop: l.stop, versions }
}

function assertNoFailures (stats: LoadStats, what: string): void {
  assert.equal(stats.failed, 0, `${what}: failed requests:\n${stats.errors.join('\n')}`)
  assert.equal(stats.bad, 0, `${what}: bad bodies:\n${stats.badBodies.join('\n')}`)
  assert.ok(stats.ok > 0, `${what}: the load made requests`)
}

/** Fresh connections (so the round robin reaches every worker): the set of (version, pid) seen. */
async function sample (s: Served, n: number): Promise<{ versions: Set<string>, pids: Set<number> }> {
  const versions = new Set<string>()
  const pids = new Set<number>()
  for (let i = 0; i < n; i++) {
    const res = await request(s.port, '/version', { keepAlive: false })
    assert.equal(res.status, 200)
    versions.add(String(res.json().version))
    pids.add(res.json().pid as number)
  }
  return { versions, pids }
}

async function reloadUnderLoad (t: TestContext, s: Served, from: string, to: string, args: string[]): Promise<{ res: CliResult, stats: LoadStats, ms: number }> {
  const oldPids = await pidsOf(s)
  const workers = oldPids.length
  const l = traffic(s, [from, to])
  await sleep(300)
  setVersion(s, to)
  const t0 = performance.now()
  const res = await cli(['reload', ...args, '--socket', s.socket], { cwd: s.dir })
  const ms = performance.now() - t0
  await sleep(300)
  const stats = await l.stop()
  t.diagnostic(`reload ${args.join(' ') || '(one at a time)'} of ${workers} workers under load (${CONCURRENCY} concurrent, keep-alive): ` +
    `${ms.toFixed(0)} ms for the CLI; server: "${res.stdout.toString().trim()}"; ${stats.ok} ok, ${stats.failed} failed, ${stats.bad} bad`)
  assert.equal(res.stderr, '')
  assert.equal(res.code, 0)
  assert.match(res.stdout.toString(), new RegExp(`^reloaded ${workers} worker\\(s\\) in \\d+ ms\\n$`))
  assertNoFailures(stats, `reload ${args.join(' ')}`)
  const newPids = await pidsOf(s)
  assert.equal(newPids.length, workers, 'as many workers as before')
  for (const pid of newPids) assert.ok(!oldPids.includes(pid), `worker pid ${pid} is new`)
  for (const pid of oldPids) assert.equal(isAlive(pid), false, `old worker pid ${pid} is gone`)
  const seen = await sample(s, 6 * workers)
  assert.deepEqual([...seen.versions], [to], 'every response comes from the new code')
  for (const pid of seen.pids) assert.ok(newPids.includes(pid), `pid ${pid} answering is one of the new workers`)
  return { res, stats, ms }
}

/** Log lines after `from` (an index into logs()) whose message matches. */
function since (s: Served, from: number, pattern: RegExp): Array<Record<string, unknown>> {
  return s.logs().slice(from).filter((l) => pattern.test(String(l.message)))
}

async function waitSince (s: Served, from: number, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (since(s, from, pattern).length === 0) {
    if (Date.now() > deadline || s.child.exitCode !== null) throw new Error(`no new log line matched ${String(pattern)}; output:\n${s.output().slice(-4000)}`)
    await sleep(20)
  }
}

test('hotswap reload under keep-alive load: 4 workers, one at a time, 0 failed, all on the new code', async (t) => {
  await reloadUnderLoad(t, four, 'v1', 'v2', [])
})

test('hotswap reload --parallel 2 under load: 0 failed, all on the new code', async (t) => {
  await reloadUnderLoad(t, four, 'v2', 'v3', ['--parallel', '2'])
})

test('SIGHUP to the primary does the same rolling reload', async (t) => {
  const oldPids = await pidsOf(four)
  const mark = four.logs().length
  const l = traffic(four, ['v3', 'v4'])
  await sleep(300)
  setVersion(four, 'v4')
  const t0 = performance.now()
  process.kill(four.pid, 'SIGHUP')
  await waitSince(four, mark, /^reload complete: 4 worker\(s\) replaced/, 60_000)
  t.diagnostic(`SIGHUP reload of 4 workers: ${(performance.now() - t0).toFixed(0)} ms`)
  await sleep(300)
  const stats = await l.stop()
  assertNoFailures(stats, 'SIGHUP reload')
  assert.equal(since(four, mark, /^reload: rolling 4 worker\(s\), 1 at a time$/).length, 1)
  const newPids = await pidsOf(four)
  assert.equal(newPids.length, 4)
  for (const pid of newPids) assert.ok(!oldPids.includes(pid), `worker pid ${pid} is new`)
  const seen = await sample(four, 24)
  assert.deepEqual([...seen.versions], ['v4'])
})

test('reload onto a version that throws at import: exit 1, old workers keep serving, 0 failed', async (t) => {
  const oldPids = await pidsOf(four)
  const mark = four.logs().length
  const l = traffic(four, ['v4'])
  await sleep(300)
  setVersion(four, 'broken')
  const res = await cli(['reload', '--socket', four.socket], { cwd: four.dir })
  await sleep(300)
  const stats = await l.stop()
  t.diagnostic(`broken reload: ${stats.ok} ok, ${stats.failed} failed; stderr: ${res.stderr.trim()}`)
  setVersion(four, 'v4')
  assert.equal(res.code, 1)
  assert.equal(res.stdout.toString(), '')
  const lines = res.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one ERROR line:\n${res.stderr}`)
  assert.match(lines[0] ?? '', /^ERROR \[HOTSWAP_ERR_WORKER_FAILED\] reload stopped after 0 of 4 worker\(s\): a replacement did not become ready \(.*\); the old workers keep serving$/)
  assert.match(lines[0] ?? '', /versioned-app: version "broken" cannot start/, 'the error names why the new version failed')
  assertNoFailures(stats, 'broken reload')
  assert.deepEqual(await pidsOf(four), oldPids, 'the same workers, none replaced')
  const seen = await sample(four, 24)
  assert.deepEqual([...seen.versions], ['v4'], 'the old version answers')
  assert.ok(since(four, mark, /^the app failed to start: /).some((l) => l.role === 'worker 1'), 'the replacement\'s start-up error is logged, tagged')
  // The failed replacement is not restarted: its slot still belongs to the old worker.
  assert.equal(since(four, mark, /restarting in/).length, 0)
})

test('reload onto a version that never calls ready() (--wait-ready): exit 1 after --listen-timeout, old workers keep serving', async (t) => {
  const oldPids = await pidsOf(waiting)
  const mark = waiting.logs().length
  // The replacement listens but never says ready. Node's round robin hands it new connections
  // all the same (it listens), so fresh-connection traffic may be answered by "never-ready"
  // until the listen timeout; what must hold is that no request fails when it is then stopped
  // (drained, not SIGKILLed), and that the old workers are the ones left serving.
  const l = traffic(waiting, ['v1', 'never-ready'])
  const fresh = traffic(waiting, null, { fresh: true })
  await sleep(300)
  setVersion(waiting, 'never-ready')
  const t0 = performance.now()
  const res = await cli(['reload', '--socket', waiting.socket], { cwd: waiting.dir })
  t.diagnostic(`never-ready reload failed after ${(performance.now() - t0).toFixed(0)} ms`)
  await sleep(300)
  const stats = await l.stop()
  const freshStats = await fresh.stop()
  t.diagnostic(`never-ready reload, keep-alive: ${stats.ok} ok (by version: ${JSON.stringify(Object.fromEntries(l.versions))}), ${stats.failed} failed; ` +
    `fresh connections: ${freshStats.ok} ok (by version: ${JSON.stringify(Object.fromEntries(fresh.versions))}), ${freshStats.failed} failed; stderr: ${res.stderr.trim()}`)
  setVersion(waiting, 'v1')
  assert.equal(res.code, 1)
  const lines = res.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one ERROR line:\n${res.stderr}`)
  assert.match(lines[0] ?? '', /^ERROR \[HOTSWAP_ERR_WORKER_FAILED\] reload stopped after 0 of 2 worker\(s\): a replacement did not become ready \(worker 1 \(pid \d+\) did not become ready within 8000 ms\); the old workers keep serving$/)
  assertNoFailures(stats, 'never-ready reload')
  assertNoFailures(freshStats, 'never-ready reload, fresh connections')
  assert.deepEqual(await pidsOf(waiting), oldPids, 'the same workers, none replaced')
  const seen = await sample(waiting, 12)
  assert.deepEqual([...seen.versions], ['v1'], 'the old version answers')
  assert.equal(since(waiting, mark, /restarting in/).length, 0)
})

test('a reload and a swap never overlap: each waits for the swap lock the other holds', async (t) => {
  const s = waiting
  const gate = join(s.dir, READY_GATE)
  const next = join(s.dir, 'next.sqlite3')
  seed(next, { label: 'swapped-1' })

  // Reload first. Its replacement does not call ready() until the test creates the gate file, so
  // the reload holds the lock until the push is seen waiting for it.
  let mark = s.logs().length
  rmSync(gate)
  setVersion(s, 'v2')
  const reloading = cli(['reload', '--socket', s.socket], { cwd: s.dir })
  await waitSince(s, mark, /^reload: rolling 2 worker\(s\)/)
  const pushing = cli(['cp', next, 'live', '--socket', s.socket], { cwd: s.dir })
  await waitSince(s, mark, /^push to live: waiting for the swap lock$/)
  writeFileSync(gate, '')
  const [r1, p1] = await Promise.all([reloading, pushing])
  assert.equal(r1.code, 0, r1.stderr)
  assert.equal(p1.code, 0, p1.stderr)
  assert.equal(p1.stdout.toString(), 'OK\n')
  let msgs = s.logs().slice(mark).map((l) => String(l.message))
  let order = (re: RegExp): number => msgs.findIndex((m) => re.test(m))
  t.diagnostic(`reload first:\n  ${msgs.filter((m) => /lock|reload|swap|paused|resumed/.test(m)).join('\n  ')}`)
  assert.ok(order(/^reload complete/) >= 0)
  assert.ok(order(/^push to live: waiting for the swap lock$/) < order(/^reload complete/))
  assert.ok(order(/^reload complete/) < order(/^lock taken for live$/), 'the swap took the lock after the reload finished')

  // Swap first. A request in flight that only ends when the test creates a file holds the swap
  // in its pause (the drain), lock held, until the reload is seen waiting for the lock.
  const next2 = join(s.dir, 'next2.sqlite3')
  seed(next2, { label: 'swapped-2' })
  mark = s.logs().length
  const held = request(s.port, '/hold?file=release-swap', { keepAlive: false })
  await waitUntil('the held request in flight', async () => (await statusJson(s.socket, s.dir)).workers.some((w) => w.inFlight === 1))
  const pushing2 = cli(['cp', next2, 'live', '--socket', s.socket], { cwd: s.dir })
  await waitSince(s, mark, /^lock taken for live$/)
  setVersion(s, 'v3')
  const reloading2 = cli(['reload', '--socket', s.socket], { cwd: s.dir })
  await waitSince(s, mark, /^reload: waiting for the swap lock$/)
  writeFileSync(join(s.dir, 'release-swap'), '')
  const [p2, r2, heldRes] = await Promise.all([pushing2, reloading2, held])
  assert.equal(p2.code, 0, p2.stderr)
  assert.equal(r2.code, 0, r2.stderr)
  assert.equal(heldRes.status, 200)
  assert.equal(heldRes.json().label, 'swapped-1', 'the request in flight finished on the data before this swap')
  msgs = s.logs().slice(mark).map((l) => String(l.message))
  order = (re: RegExp): number => msgs.findIndex((m) => re.test(m))
  t.diagnostic(`swap first:\n  ${msgs.filter((m) => /lock|reload|swap|paused|resumed/.test(m)).join('\n  ')}`)
  assert.ok(order(/^pause window .* for live$/) >= 0)
  assert.ok(order(/^lock taken for live$/) < order(/^reload: waiting for the swap lock$/))
  assert.ok(order(/^pause window .* for live$/) < order(/^reload: rolling 2 worker\(s\)/), 'the reload started after the swap finished')

  const seen = await sample(s, 8)
  assert.deepEqual([...seen.versions], ['v3'])
  assert.equal((await request(s.port, '/version')).json().label, 'swapped-2')
  const st = await statusJson(s.socket, s.dir)
  assert.equal(st.databases[0]?.swaps, 2)
})
