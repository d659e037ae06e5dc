// The primary SIGKILLed at every step of a commit of several databases and of an undo, under
// HTTP load with writes going on, then `hotswap serve` started again on the same files (without
// the crash point): every database is the old generation, or every one the new one, never a mix.
//
//   HOTSWAP_TEST_CRASH_AT: before-intent ─▶ after-intent ─▶ paused ─▶ renamed-1 … renamed-N
//                          ─▶ resumed ─▶ saved             (src/shared/crash-point.ts)
//   before any rename: all old (an intent left is rolled back: 'recovered', direction back)
//   from the first rename on: all new (the rest installed at start-up: direction forward)
//
// After each restart: every worker serves the expected pair over HTTP; each file (read directly,
// the server stopped) passes integrity_check and holds the expected content; each .hotswap/<f>/
// holds exactly manifest.json, a file per kept generation and the stage a rolled-back commit
// leaves (no intent, no temp); the manifest's live generation is the served file; the rows whose
// writes were acknowledged (HTTP 200) before the crash are in the generation they were written to.
//
// Content is told by label: `<name>-A` (seeded, 20 rows) and `<name>-B` (pushed, 3000 rows), so
// a /write's reply (the row count after it) says which content it was written to. The undo
// cases go on from a commit case's files (its restart leaves generation 2 live, 1 kept).

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  cli, type CliResult, fixture, inspect, kill, leftovers, load, push, report, request, seed, type Served, startServe, tempDir, waitGone, waitUntil, waitWorkers,
} from '../support/index.js'

const A_ROWS = 20
const B_ROWS = 3000

type Content = 'A' | 'B'

interface World {
  t: ReturnType<typeof tempDir>
  names: string[]
  paths: Record<string, string>
  /** The pushed files (content B), in src/. */
  sources: Record<string, string>
}

interface Expected {
  /** What each database holds after the restart, and its live generation id. */
  content: Record<string, Content>
  live: Record<string, number>
  /** Kept generations per database, with their content. */
  kept: Record<string, Record<number, Content>>
  /** Stage ids per database that legitimately remain (a rolled-back commit of stages). */
  stages?: Record<string, string>
  /** The 'recovered' line at the restart: its direction, or none (no intent was written). */
  recovered: 'back' | 'forward' | null
}

const worlds: World[] = []
const orphans: number[] = []

after(() => {
  for (const pid of orphans) kill(pid)
  for (const w of worlds) w.t.cleanup()
})

function world (names: string[]): World {
  const t = tempDir()
  const paths: Record<string, string> = {}
  const sources: Record<string, string> = {}
  for (const n of names) {
    paths[n] = join(t.dir, `${n}.sqlite3`)
    seed(paths[n], { label: `${n}-A`, rows: A_ROWS })
    sources[n] = join(t.dir, `${n}-B.sqlite3`)
    seed(sources[n], { label: `${n}-B`, rows: B_ROWS })
  }
  const w = { t, names, paths, sources }
  worlds.push(w)
  return w
}

async function serve (w: World, crashAt?: string): Promise<Served> {
  return await startServe({
    dir: w.t.dir,
    dbs: w.names.map((n) => w.paths[n] as string),
    workers: 2,
    app: fixture('generations-app.mjs'),
    env: { GEN_DBS: w.names.join(','), ...(crashAt === undefined ? {} : { HOTSWAP_TEST_CRASH_AT: crashAt }) },
  })
}

function contentOf (label: string): string {
  return label.slice(label.lastIndexOf('-') + 1)
}

/** A write's reply: the row count after it, which tells the content it went to. */
function contentOfCount (count: number): Content {
  return count >= B_ROWS ? 'B' : 'A'
}

function folder (w: World, name: string): string {
  return join(w.t.dir, '.hotswap', `${name}.sqlite3`)
}

interface Crashed {
  /** The highest row count acknowledged per database and content. */
  acked: Map<string, number>
  ok: number
  failed: number
}

/**
 * Starts serve armed at `point`, runs a load of reads (every database in one request) and writes,
 * then `act` (the commands; the last one is cut by the crash). The primary must die by SIGKILL,
 * its workers must exit, and every response must have read one of `states` (before, after).
 */
async function crash (w: World, point: string, states: Array<Record<string, Content>>, act: (s: Served) => Promise<CliResult>): Promise<Crashed> {
  const s = await serve(w, point)
  const pids = (await waitWorkers(s.socket, 2)).map((x) => x.pid)
  const acked = new Map<string, number>()
  const writes = new Map<string, number>()
  const paths = ['/labels', ...w.names.map((n) => `/write?db=${n}&n=1`)]
  const traffic = load(s.port, {
    paths,
    concurrency: 2,
    check: (path, body) => {
      if (path === '/labels') {
        const labels = body.labels as Record<string, string>
        const ok = states.some((st) => w.names.every((n) => contentOf(labels[n] as string) === st[n]))
        return ok ? null : `a mix of generations: ${JSON.stringify(labels)}`
      }
      const db = new URL(path, 'http://x').searchParams.get('db') as string
      const count = Number(body.count)
      const key = `${db}:${contentOfCount(count)}`
      acked.set(key, Math.max(acked.get(key) ?? 0, count))
      writes.set(db, (writes.get(db) ?? 0) + 1)
      return null
    },
  })
  let res: CliResult
  let diedAt = Infinity
  s.child.once('exit', () => { diedAt = Date.now() })
  try {
    // Writes acknowledged into every database, so the old files have WAL content at the pause.
    await waitUntil('writes acknowledged into every database', () => w.names.every((n) => (writes.get(n) ?? 0) >= 5))
    for (const n of w.names) assert.ok(statSync(`${w.paths[n] as string}-wal`).size > 0, `${n} has WAL content before the commit`)
    res = await act(s)
    await s.stop() // already dead: waits for the exit
  } finally {
    await traffic.stop()
  }
  assert.equal(s.child.signalCode, 'SIGKILL', `the primary was killed at ${point} (the command: exit ${String(res.code)}, ${res.stderr})`)
  assert.equal(res.code, 1, `the command cut by the crash exits 1: ${res.stderr}`)
  assert.match(res.stderr, /HOTSWAP_ERR_CONNECTION_LOST/)
  const alive = await waitGone(pids, 15_000)
  orphans.push(...alive)
  assert.deepEqual(alive, [], 'the killed primary\'s workers exited')
  assert.deepEqual(traffic.stats.badBodies, [], 'no response mixed generations')
  // Requests fail once no primary accepts connections; none may fail before (the exit is seen a
  // moment after the death: a failure within 250 ms of it is the death's).
  const early = traffic.stats.failedAt.filter((at) => at < diedAt - 250)
  assert.deepEqual(early, [], `no request failed before the primary died (${traffic.stats.errors.slice(0, 3).join('; ')})`)
  return { acked, ok: traffic.stats.ok, failed: traffic.stats.failed }
}

/** Restarts without the crash point and checks everything the crash could have broken. */
async function recovered (tt: { diagnostic: (m: string) => void }, w: World, point: string, c: Crashed, want: Expected): Promise<void> {
  const s = await serve(w)
  let ok = 0
  try {
    const lines = s.logs().filter((l) => l.event === 'recovered')
    if (want.recovered === null) {
      assert.deepEqual(lines, [], 'no intent was written: nothing to recover')
    } else {
      assert.equal(lines.length, 1, `one 'recovered' line: ${s.output().slice(-2000)}`)
      assert.equal(lines[0]?.direction, want.recovered)
    }
    // Every worker serves the expected pair, on fresh connections.
    const expected = Object.fromEntries(w.names.map((n) => [n, `${n}-${want.content[n] as string}`]))
    const seen = new Set<number>()
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const r = await request(s.port, '/labels', { keepAlive: false })
      assert.equal(r.status, 200, r.body)
      assert.deepEqual(r.json().labels, expected, 'served after the restart')
      seen.add(Number(r.json().pid))
      ok++
    }
    assert.equal(seen.size, 2, 'every worker answered')
  } finally {
    assert.equal(await s.stop(), 0, 'the restarted serve exits 0 on SIGTERM')
  }

  let tempLeft = leftovers(w.t.dir).length
  assert.deepEqual(leftovers(w.t.dir), [], 'no temp file beside the databases')
  for (const n of w.names) {
    const live = w.paths[n] as string
    const f = inspect(live, () => ({}))
    assert.deepEqual(f.integrity, ['ok'], `${n}: integrity_check`)
    assert.equal(f.label, `${n}-${want.content[n] as string}`, `${n} holds the expected generation`)

    const m = JSON.parse(readFileSync(join(folder(w, n), 'manifest.json'), 'utf8')) as { live: number, liveIno: number, generations: Array<{ id: number }> }
    assert.equal(m.live, want.live[n], `${n}: the manifest's live generation`)
    assert.equal(m.liveIno, statSync(live).ino, `${n}: the manifest's live file is the served one`)
    const kept = want.kept[n] ?? {}
    assert.deepEqual(m.generations.map((g) => g.id).sort(), [want.live[n], ...Object.keys(kept).map(Number)].sort(), `${n}: the generations listed`)
    const stage = want.stages?.[n]
    const files = readdirSync(folder(w, n)).sort()
    const listed = ['manifest.json', ...Object.keys(kept).map((id) => `${id}.sqlite3`), ...(stage === undefined ? [] : [`stage-${stage}.json`, `stage-${stage}.sqlite3`])].sort()
    tempLeft += files.filter((x) => !listed.includes(x)).length
    assert.deepEqual(files, listed, `${n}: nothing unlisted in .hotswap/${n}.sqlite3/`)

    // Each content's file: the live one, or the kept one. The rows acknowledged into it are there.
    const fileOf: Partial<Record<Content, string>> = { [want.content[n] as Content]: live }
    for (const [id, content] of Object.entries(kept)) {
      const p = join(folder(w, n), `${id}.sqlite3`)
      const k = inspect(p, () => ({}))
      assert.deepEqual(k.integrity, ['ok'], `${n}: kept generation ${id} passes integrity_check`)
      assert.equal(k.label, `${n}-${content}`, `${n}: kept generation ${id}`)
      fileOf[content] = p
    }
    for (const content of ['A', 'B'] as const) {
      const acked = c.acked.get(`${n}:${content}`)
      if (acked === undefined) continue
      const p = fileOf[content]
      assert.ok(p !== undefined, `${n}: the generation with content ${content} (written to) is kept`)
      const count = inspect(p, () => ({})).count
      assert.ok(count >= acked, `${n}: ${count} rows in content ${content}, ${acked} acknowledged: no acknowledged write lost`)
    }
  }
  tt.diagnostic(`${point}: ${w.names.map((n) => `${n}-${want.content[n] as string}`).join(' ')}; recovered ${want.recovered ?? 'nothing'}; ` +
    `writes acknowledged ${[...c.acked].map(([k, v]) => `${k}≤${v}`).join(' ')}; load ${c.ok} ok, ${c.failed} failed (the primary's death)`)
  report(tt, 'primary killed mid-commit', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: c.ok + ok, requestsFailed: c.failed })
}

/** Stages every database's B file, then `hotswap commit` (the commit the crash cuts). */
function stageAndCommit (w: World, stages: Record<string, string>): (s: Served) => Promise<CliResult> {
  return async (s) => {
    // Staged over the socket in the gem's framing (what `cp FILE NAME --stage` sends): the
    // command the crash cuts is the real CLI's.
    for (const n of w.names) {
      const r = await push(s.socket, readFileSync(w.sources[n] as string), ['--stage'], n)
      assert.equal(r.control?.exit, 0, r.stderr)
      stages[n] = r.stdout.toString().trim()
      assert.match(stages[n], /^[0-9a-f]{8}$/)
    }
    return await cli(['commit', '--socket', s.socket], { cwd: w.t.dir })
  }
}

function each<T> (w: World, v: T): Record<string, T> {
  return Object.fromEntries(w.names.map((n) => [n, v]))
}

const BEFORE_RENAME = [
  { point: 'before-intent', recovered: null },
  { point: 'after-intent', recovered: 'back' },
  { point: 'paused', recovered: 'back' },
] as const

for (const { point, recovered: direction } of BEFORE_RENAME) {
  test(`commit of app and cache, primary killed at ${point}: both old`, async (tt) => {
    const w = world(['app', 'cache'])
    const stages: Record<string, string> = {}
    const c = await crash(w, point, [each(w, 'A'), each(w, 'B')], stageAndCommit(w, stages))
    await recovered(tt, w, point, c, { content: each(w, 'A'), live: each(w, 1), kept: each(w, {}), stages, recovered: direction })
  })
}

// From the first rename on: all new. Each goes on with an undo of both (the last commit) crashed
// at `undo`, then an undo of app alone crashed at `single`.
const AFTER_RENAME = [
  { point: 'renamed-1', undo: 'before-intent', single: 'paused' },
  { point: 'renamed-2', undo: 'paused', single: 'renamed-1' },
  { point: 'resumed', undo: 'renamed-1', single: 'saved' },
  { point: 'saved', undo: 'saved', single: 'before-intent' },
] as const

const UNDO_FORWARD = new Set<string>(['renamed-1', 'resumed', 'saved'])

for (const { point, undo, single } of AFTER_RENAME) {
  test(`commit of app and cache killed at ${point}: both new; undo of both killed at ${undo}; undo of app killed at ${single}`, async (tt) => {
    const w = world(['app', 'cache'])
    const c = await crash(w, point, [each(w, 'A'), each(w, 'B')], stageAndCommit(w, {}))
    await recovered(tt, w, `commit ${point}`, c, { content: each(w, 'B'), live: each(w, 2), kept: each(w, { 1: 'A' }), recovered: 'forward' })

    // hotswap undo: the databases of the last commit, both in one pause.
    const u = await crash(w, undo, [each(w, 'A'), each(w, 'B')], async (s) => await cli(['undo', '--socket', s.socket], { cwd: w.t.dir }))
    const back = UNDO_FORWARD.has(undo)
    const afterUndo: Expected = back
      ? { content: each(w, 'A'), live: each(w, 3), kept: each(w, { 2: 'B' }), recovered: 'forward' }
      : { content: each(w, 'B'), live: each(w, 2), kept: each(w, { 1: 'A' }), recovered: undo === 'before-intent' ? null : 'back' }
    await recovered(tt, w, `undo ${undo}`, u, afterUndo)

    // hotswap undo app: one database; cache stays as it is.
    const app = afterUndo.live.app as number
    const appKept = Object.entries(afterUndo.kept.app as Record<number, Content>)[0] as [string, Content]
    const undone = { ...afterUndo.content, app: appKept[1] }
    const one = await crash(w, single, [afterUndo.content, undone], async (s) => await cli(['undo', 'app', '--socket', s.socket], { cwd: w.t.dir }))
    const forward = UNDO_FORWARD.has(single)
    const want: Expected = structuredClone(afterUndo)
    want.recovered = single === 'before-intent' ? null : forward ? 'forward' : 'back'
    if (forward) {
      want.content.app = appKept[1]
      want.live.app = app + 1
      want.kept.app = { [app]: afterUndo.content.app as Content }
    }
    await recovered(tt, w, `undo app ${single}`, one, want)
  })
}

for (const point of ['renamed-2', 'renamed-3']) {
  test(`commit of app, cache and queue (hotswap swap), primary killed at ${point}: all three new`, async (tt) => {
    const w = world(['app', 'cache', 'queue'])
    const c = await crash(w, point, [each(w, 'A'), each(w, 'B')], async (s) => await cli(['swap', ...w.names.map((n) => `${n}=${w.sources[n] as string}`), '--socket', s.socket], { cwd: w.t.dir }))
    await recovered(tt, w, `swap of 3, ${point}`, c, { content: each(w, 'B'), live: each(w, 2), kept: each(w, { 1: 'A' }), recovered: 'forward' })
  })
}
