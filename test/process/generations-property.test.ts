// Generations as a property (fast-check): a real `hotswap serve` (1 worker, --keep 2, two
// databases, app and cache, read together by test/fixtures/generations-app.mjs) driven by random
// sequences of pushes, stages, commits (all or one), aborts, undos (the last commit, one
// database, --to a kept id or one that is not kept), client-side swaps, restarts (SIGTERM, then
// serve again on the same files) and now and then a SIGKILL and a restart. Half the runs start
// serve with HOTSWAP_TEST_CRASH_AT at a random point: its first commit that reaches the point
// kills the primary there, and the next start must finish the commit (a file was renamed) or
// undo it (none was), as the model says.
//
// A model written here says what each database's live label must be, which generations are kept
// (ids and labels, newest first), what is staged and against which generation, and which
// commands must fail with which code. After every step:
//   - the labels served over HTTP are the model's;
//   - manifest.json on disk equals `history --json`'s generations (minus the live flags), and
//     both list the model's live and kept ids; status --json agrees (generation, kept, staged);
//   - `.hotswap/<file>/` holds exactly manifest.json, `<id>.sqlite3` of each kept generation and
//     the stage files of the stages history lists; never more than --keep kept;
//   - every digest recorded (live, kept or staged) is the sha256 of that file (the app never
//     writes); each stage's record on disk is what history lists;
//   - nothing of an upload or a swap is left beside the databases (after a crash: once restarted).
// Commands go through the real CLI or straight over the socket (the gem's framing), at random.
//
// HOTSWAP_FUZZ_CASES runs (default 6) of HOTSWAP_FUZZ_STEPS steps (default 10), seeded by
// HOTSWAP_FUZZ_SEED (printed; a failure prints the seed and the steps to replay it).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { cli, exchange, fixture, gemStream, isAlive, request, seed, type Served, sleep, startServe, status, tempDir, waitGone, waitNoLeftovers } from '../support/index.js'
import type { Generation, Manifest } from '../../src/primary/generations/manifest.js'

const CASES = Number(process.env.HOTSWAP_FUZZ_CASES ?? 6)
const STEPS = Number(process.env.HOTSWAP_FUZZ_STEPS ?? 10)
const SEED = Number(process.env.HOTSWAP_FUZZ_SEED ?? Date.now() % 1_000_000)
const KEEP = 2
const DBS = ['app', 'cache'] as const
type Db = typeof DBS[number]
type Via = 'cli' | 'socket'

type PushOp = { kind: 'push', db: Db, via: Via }
type CommitOp = { kind: 'commit', which: Db | 'all', via: Via }
type UndoOp = { kind: 'undo', which: Db | 'last', to: number | null, via: Via }
type Op =
  | PushOp | CommitOp | UndoOp
  | { kind: 'stage', db: Db, via: Via }
  | { kind: 'abort', which: Db | 'all', via: Via }
  | { kind: 'swap', dbs: Db[] }
  | { kind: 'restart', signal: 'SIGTERM' | 'SIGKILL' }

type CrashPoint = typeof CRASH_POINTS[number]
const CRASH_POINTS = ['before-intent', 'after-intent', 'paused', 'renamed-1', 'renamed-2', 'resumed', 'saved'] as const

const db = fc.constantFrom<Db>(...DBS)
const via = fc.oneof({ weight: 5, arbitrary: fc.constant<Via>('socket') }, { weight: 1, arbitrary: fc.constant<Via>('cli') })
const pushOp: fc.Arbitrary<PushOp> = fc.record({ kind: fc.constant('push' as const), db, via })
const commitOp: fc.Arbitrary<CommitOp> = fc.record({ kind: fc.constant('commit' as const), which: fc.constantFrom<Db | 'all'>('all', 'all', ...DBS), via })
// to: an index into [kept ids…, the live id, an id never made]; null: no --to.
const undoOp: fc.Arbitrary<UndoOp> = fc.record({ kind: fc.constant('undo' as const), which: fc.constantFrom<Db | 'last'>('last', ...DBS), to: fc.option(fc.nat(3), { freq: 3 }), via })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: pushOp },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('stage' as const), db, via }) },
  { weight: 3, arbitrary: commitOp },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), which: fc.constantFrom<Db | 'all'>('all', ...DBS), via }) },
  { weight: 3, arbitrary: undoOp },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), dbs: fc.constantFrom<Db[]>(['app', 'cache'], ['cache', 'app'], ['app'], ['cache']) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), signal: fc.constantFrom<'SIGTERM' | 'SIGKILL'>('SIGTERM', 'SIGTERM', 'SIGKILL') }) },
)

// ---------------------------------------------------------------------------------------------
// the model

interface Gen { id: number, label: string }
interface DbModel {
  live: Gen & { commit: number | null }
  /** Newest first, as the manifest lists them. */
  kept: Gen[]
  next: number
  stage: { id: string, label: string, checkedAgainst: number } | null
}
type Model = Record<Db, DbModel>

function freshModel (): Model {
  const one = (name: Db): DbModel => ({ live: { id: 1, label: `${name}-0`, commit: null }, kept: [], next: 2, stage: null })
  return { app: one('app'), cache: one('cache') }
}

/** A commit made `label` live in `m` (an undo: the kept generation `undoOf` leaves the list). */
function goLive (m: DbModel, label: string, commit: number, undoOf?: number): void {
  const rest = m.kept.filter((g) => g.id !== undoOf)
  m.kept = [{ id: m.live.id, label: m.live.label }, ...rest].slice(0, KEEP)
  m.live = { id: m.next, label, commit }
  m.next++
}

// ---------------------------------------------------------------------------------------------
// one server, its commands

interface Outcome { code: number | null, stdout: string, error: string | null, text: string }

class Harness {
  readonly dir: string
  readonly paths: Record<Db, string>
  served: Served | undefined
  /** Where the running server kills itself in its next commit (HOTSWAP_TEST_CRASH_AT), or null. */
  crashAt: CrashPoint | null = null
  /** Every worker pid seen, killed at the end of the run if still alive (a run that failed mid-crash). */
  readonly workers = new Set<number>()
  labels = 0
  constructor (dir: string) {
    this.dir = dir
    mkdirSync(join(dir, 'src'))
    this.paths = { app: join(dir, 'app.sqlite3'), cache: join(dir, 'cache.sqlite3') }
    for (const name of DBS) seed(this.paths[name], { label: `${name}-0` })
  }

  get current (): Served {
    assert.ok(this.served !== undefined, 'a server runs')
    return this.served
  }

  get socket (): string {
    return this.current.socket
  }

  async start (crashAt: CrashPoint | null = null): Promise<void> {
    this.crashAt = crashAt
    this.served = await startServe({
      dir: this.dir, dbs: [this.paths.app, this.paths.cache], app: fixture('generations-app.mjs'), workers: 1,
      args: ['--keep', String(KEEP)], env: { GEN_DBS: DBS.join(','), ...(crashAt === null ? {} : { HOTSWAP_TEST_CRASH_AT: crashAt }) },
    })
    assert.equal(this.served.child.exitCode, null, `serve started: ${this.served.output().slice(-2000)}`)
  }

  async stop (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const served = this.served as Served
    this.served = undefined
    if (signal === 'SIGTERM') {
      assert.equal(await served.stop(), 0, 'serve exits 0 on SIGTERM')
      return
    }
    const worker = Number((await request(served.port, '/labels')).json().pid)
    this.workers.add(worker)
    served.child.kill('SIGKILL')
    await served.stop()
    // The orphaned worker notices the lost channel and exits by itself.
    const left = await waitGone([worker])
    for (const pid of left) process.kill(pid, 'SIGKILL')
  }

  /** A new source file for `name` with a label never used before. */
  source (name: Db): { path: string, label: string } {
    const label = `${name}-${++this.labels}`
    const path = join(this.dir, 'src', `${label}.sqlite3`)
    seed(path, { label })
    return { path, label }
  }

  async run (args: string[], how: Via): Promise<Outcome> {
    if (how === 'cli') {
      const r = await cli([...args, '--socket', this.socket], { cwd: this.dir })
      return { code: r.code, stdout: r.stdout.toString('utf8'), error: /ERROR \[(HOTSWAP_ERR_\w+)\]/.exec(r.stderr)?.[1] ?? null, text: r.stderr }
    }
    const r = await exchange(this.socket, gemStream(args), { timeoutMs: 60_000 })
    return { code: r.control?.exit ?? null, stdout: r.stdout.toString('utf8'), error: r.control?.code ?? null, text: `${r.stderr} ${r.control?.error ?? ''}` }
  }
}

// ---------------------------------------------------------------------------------------------
// a step: what the model expects of a command, the command, the model moved on

/** A command and what the model expects of it; apply() moves the model on once it succeeded. */
interface Planned {
  args: string[]
  via: Via
  /** The error code expected, or null: it succeeds. */
  want: string | null
  /** The databases a successful one swaps in one commit (0: it swaps nothing). */
  swaps: number
  /** The model after a success (`commit` is the model's sequence number of the commit). */
  apply: (got: Outcome, commit: number) => void
  what: string
  /** A swap's files: staged by the client before its commit (a commit rolled back leaves them staged). */
  stages?: Array<{ d: Db, label: string }>
}

let commits = 0

function plan (h: Harness, m: Model, o: Exclude<Op, { kind: 'restart' }>): Planned {
  switch (o.kind) {
    case 'push': {
      const src = h.source(o.db)
      return { args: ['cp', src.path, o.db], via: o.via, want: null, swaps: 1, what: `push ${src.label}`, apply: (_, c) => { goLive(m[o.db], src.label, c) } }
    }
    case 'stage': {
      const src = h.source(o.db)
      return {
        args: ['cp', src.path, o.db, '--stage'], via: o.via, want: m[o.db].stage === null ? null : 'HOTSWAP_ERR_ALREADY_STAGED', swaps: 0, what: `stage ${src.label}`,
        apply: (got) => {
          const id = got.stdout.trim()
          assert.match(id, /^[0-9a-f]{8}$/, 'a stage prints its id alone')
          m[o.db].stage = { id, label: src.label, checkedAgainst: m[o.db].live.id }
        },
      }
    }
    case 'commit': {
      const named = o.which === 'all' ? DBS.filter((d) => m[d].stage !== null) : [o.which]
      let want: string | null = null
      if (named.length === 0 || named.some((d) => m[d].stage === null)) want = 'HOTSWAP_ERR_UNKNOWN_STAGE'
      else if (named.some((d) => m[d].stage?.checkedAgainst !== m[d].live.id)) want = 'HOTSWAP_ERR_STAGE_STALE'
      const ids = o.which === 'all' ? [] : [m[o.which].stage?.id ?? '0badf00d']
      return {
        args: ['commit', ...ids], via: o.via, want, swaps: named.length, what: `commit ${o.which}${want === null ? ` (${named.join('+')})` : ''}`,
        apply: (_, c) => {
          for (const d of named) {
            goLive(m[d], m[d].stage?.label as string, c)
            m[d].stage = null
          }
        },
      }
    }
    case 'abort': {
      const named = o.which === 'all' ? DBS.filter((d) => m[d].stage !== null) : [o.which]
      const ids = o.which === 'all' ? [] : [m[o.which].stage?.id ?? '0badf00d']
      return {
        args: ['abort', ...ids], via: o.via, want: named.length === 0 || named.some((d) => m[d].stage === null) ? 'HOTSWAP_ERR_UNKNOWN_STAGE' : null, swaps: 0, what: `abort ${o.which}`,
        apply: () => { for (const d of named) m[d].stage = null },
      }
    }
    case 'undo': {
      // No name: the databases of the last commit (none yet: nothing to undo).
      let targets: Db[]
      if (o.which === 'last') {
        const last = Math.max(0, ...DBS.map((d) => m[d].live.commit ?? 0))
        targets = last === 0 ? [] : DBS.filter((d) => m[d].live.commit === last)
      } else {
        targets = [o.which]
      }
      const to = o.which === 'last' || o.to === null ? null : [...m[o.which].kept.map((g) => g.id), m[o.which].live.id, 999][Math.min(o.to, m[o.which].kept.length + 1)] as number
      const undoOf = targets.map((d) => to ?? m[d].kept[0]?.id)
      let want: string | null = null
      if (targets.length === 0 || (to === null && undoOf.some((id) => id === undefined))) want = 'HOTSWAP_ERR_NOTHING_KEPT'
      else if (to !== null && !m[targets[0] as Db].kept.some((g) => g.id === to)) want = 'HOTSWAP_ERR_UNKNOWN_GENERATION'
      const args = ['undo', ...(o.which === 'last' ? [] : [o.which]), ...(to === null ? [] : ['--to', String(to)])]
      return {
        args, via: o.via, want, swaps: targets.length, what: `${args.join(' ')}${want === null ? ` (${targets.join('+')})` : ''}`,
        apply: (_, c) => {
          targets.forEach((d, i) => {
            const g = m[d].kept.find((x) => x.id === undoOf[i]) as Gen
            goLive(m[d], g.label, c, g.id)
          })
        },
      }
    }
    case 'swap': {
      const srcs = o.dbs.map((d) => ({ d, ...h.source(d) }))
      return {
        args: ['swap', ...srcs.map((x) => `${x.d}=${x.path}`)], via: 'cli', want: o.dbs.some((d) => m[d].stage !== null) ? 'HOTSWAP_ERR_ALREADY_STAGED' : null,
        swaps: srcs.length, what: `swap ${srcs.map((x) => x.label).join(' ')}`, stages: srcs.map((x) => ({ d: x.d, label: x.label })),
        apply: (_, c) => { for (const x of srcs) goLive(m[x.d], x.label, c) },
      }
    }
  }
}

function expectOutcome (got: Outcome, p: Planned): void {
  if (p.want === null) {
    assert.equal(got.code, 0, `${p.what} succeeds: ${got.text}`)
  } else {
    assert.equal(got.error, p.want, `${p.what} fails with ${p.want}: exit ${String(got.code)} ${got.text}`)
    assert.equal(got.code, 1, `${p.what}: exit 1`)
  }
}

/** Where a commit of `swaps` databases is cut short; null: the point is not reached (renamed-2 of one). */
function crashDirection (point: CrashPoint, swaps: number): 'back' | 'forward' | null {
  if (point === 'before-intent' || point === 'after-intent' || point === 'paused') return 'back'
  const n = /^renamed-(\d)$/.exec(point)?.[1]
  if (n !== undefined && Number(n) > swaps) return null
  return 'forward'
}

async function step (h: Harness, m: Model, o: Op): Promise<string> {
  if (o.kind === 'restart') {
    await h.stop(o.signal)
    await h.start()
    return `restart after ${o.signal}`
  }
  const p = plan(h, m, o)
  const name = `${p.what} (${p.via})`
  const point = h.crashAt
  const direction = point !== null && p.want === null && p.swaps > 0 ? crashDirection(point, p.swaps) : null
  if (direction === null) {
    const got = await h.run(p.args, p.via)
    expectOutcome(got, p)
    if (p.want === null) p.apply(got, p.swaps > 0 ? ++commits : 0)
    return `${name}${p.want === null ? '' : ` → ${p.want}`}`
  }
  // This server SIGKILLs itself at `point` of the commit; serve starts again on the files and
  // finishes it (forward) or undoes it (back) before any worker runs.
  const worker = Number((await request(h.current.port, '/labels')).json().pid)
  h.workers.add(worker)
  const got = await h.run(p.args, p.via)
  const line = `${name}: crashed at ${point as string}`
  assert.notEqual(got.code, 0, `${line}: the client is not told OK`)
  const served = h.current
  h.served = undefined
  await served.stop()
  assert.equal(served.child.signalCode, 'SIGKILL', `${line}: the primary killed itself`)
  for (const pid of await waitGone([worker])) process.kill(pid, 'SIGKILL')
  await h.start()
  if (point !== 'before-intent') {
    const recovered = h.current.logs().filter((l) => l.event === 'recovered').map((l) => l.direction)
    assert.deepEqual(recovered, [direction], `${line}: the restart recovers ${direction}`)
  }
  if (direction === 'forward') {
    p.apply(got, ++commits)
  } else if (p.stages !== undefined) {
    // The swap's client could not abort its stages (no server): they wait, as staged.
    const r = await h.run(['history', '--json'], 'socket')
    const history = (JSON.parse(r.stdout) as { databases: HistoryDb[] }).databases
    for (const x of p.stages) {
      const staged = history.find((d) => d.name === x.d)?.staged ?? []
      assert.equal(staged.length, 1, `${line}: ${x.d}'s stage is kept`)
      m[x.d].stage = { id: (staged[0] as { id: string }).id, label: x.label, checkedAgainst: m[x.d].live.id }
    }
  }
  return `${line}, recovered ${direction}`
}

// ---------------------------------------------------------------------------------------------
// the checks after each step

interface HistoryDb { name: string, live: number, keep: number, generations: Array<Generation & { live: boolean }>, staged: Array<{ id: string, digest: string, checkedAgainst: number }> }

function sha256 (path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`
}

async function observe (h: Harness): Promise<{ history: HistoryDb[], manifests: Record<Db, Manifest>, files: Record<Db, string[]> }> {
  const r = await h.run(['history', '--json'], 'socket')
  assert.equal(r.code, 0, `history: ${r.text}`)
  const history = (JSON.parse(r.stdout) as { databases: HistoryDb[] }).databases
  const manifests = {} as Record<Db, Manifest>
  const files = {} as Record<Db, string[]>
  for (const d of DBS) {
    const folder = join(h.dir, '.hotswap', `${d}.sqlite3`)
    manifests[d] = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as Manifest
    files[d] = readdirSync(folder).sort()
  }
  return { history, manifests, files }
}

function withoutLiveFlags (gs: Array<Generation & { live: boolean }>): Generation[] {
  return gs.map(({ live: _live, ...g }) => g)
}

async function check (h: Harness, m: Model): Promise<void> {
  const res = (await request(h.current.port, '/labels')).json()
  h.workers.add(Number(res.pid))
  const served = res.labels as Record<Db, string>
  assert.deepEqual(served, { app: m.app.live.label, cache: m.cache.live.label }, 'the labels served')

  // A retired generation's digest is saved just after the reply: wait for the disk and the
  // server to agree (and for no temp file to be left), then check everything on that view.
  let seen = await observe(h)
  for (let i = 0; i < 100; i++) {
    const agree = DBS.every((d, j) => {
      const hist = seen.history[j] as HistoryDb
      return JSON.stringify(withoutLiveFlags(hist.generations)) === JSON.stringify(seen.manifests[d].generations) &&
        !seen.files[d].some((f) => f.endsWith('.tmp'))
    })
    if (agree) break
    await sleep(30)
    seen = await observe(h)
  }
  assert.deepEqual(await waitNoLeftovers(h.dir), [], 'no upload or old-file link is left beside the databases')
  const st = await status(h.socket)
  for (const [j, d] of DBS.entries()) {
    const model = m[d]
    const hist = seen.history[j] as HistoryDb
    const man = seen.manifests[d]
    assert.equal(hist.name, d)
    assert.deepEqual(man.generations, withoutLiveFlags(hist.generations), `${d}: manifest.json is what history lists`)
    assert.equal(man.live, hist.live)
    assert.equal(hist.live, model.live.id, `${d}: the live id`)
    assert.equal(man.next, model.next, `${d}: the next id`)
    assert.deepEqual(hist.generations.map((g) => g.id), [model.live.id, ...model.kept.map((g) => g.id)], `${d}: live and kept ids, newest first`)
    assert.deepEqual(hist.generations.map((g) => g.live), hist.generations.map((_, i) => i === 0))
    assert.ok(hist.generations.length - 1 <= KEEP, `${d}: at most --keep kept`)
    assert.deepEqual(hist.staged.map((s) => s.id), model.stage === null ? [] : [model.stage.id], `${d}: what is staged`)
    const expected = ['manifest.json', ...model.kept.map((g) => `${g.id}.sqlite3`), ...hist.staged.flatMap((s) => [`stage-${s.id}.json`, `stage-${s.id}.sqlite3`])].sort()
    assert.deepEqual(seen.files[d], expected, `${d}: the files in .hotswap/${d}.sqlite3/`)
    const folder = join(h.dir, '.hotswap', `${d}.sqlite3`)
    for (const x of hist.staged) {
      assert.deepEqual(JSON.parse(readFileSync(join(folder, `stage-${x.id}.json`), 'utf8')), x, `${d}: stage ${x.id}'s record is what history lists`)
      assert.equal(sha256(join(folder, `stage-${x.id}.sqlite3`)), x.digest, `${d}: stage ${x.id}'s file has its digest`)
      assert.equal(x.checkedAgainst, model.stage?.checkedAgainst)
    }
    const sd = st.databases.find((x) => x.name === d)
    assert.deepEqual({ generation: sd?.generation, kept: sd?.kept, staged: sd?.staged }, { generation: model.live.id, kept: model.kept.length, staged: model.stage?.id ?? null }, `${d}: status --json`)
    for (const g of man.generations) {
      if (g.digest === null) continue
      const path = g.id === man.live ? h.paths[d] : join(folder, `${g.id}.sqlite3`)
      assert.equal(sha256(path), g.digest, `${d}: the digest of generation ${g.id}${g.id === man.live ? ' (live)' : ''} is its file's`)
    }
  }
}

// ---------------------------------------------------------------------------------------------

test(`property: ${CASES} random runs of ${STEPS} generation commands against a real serve agree with the model (seed ${SEED})`, { timeout: 30 * 60_000 }, async (tt) => {
  tt.diagnostic(`seed ${SEED} (HOTSWAP_FUZZ_SEED=${SEED} HOTSWAP_FUZZ_CASES=${CASES} HOTSWAP_FUZZ_STEPS=${STEPS} to replay)`)
  const tally = new Map<string, number>()
  let runs = 0
  try {
    const run = fc.record({ crashAt: fc.option(fc.constantFrom(...CRASH_POINTS), { freq: 2 }), ops: fc.array(op, { minLength: STEPS, maxLength: STEPS }) })
    await fc.assert(fc.asyncProperty(run, async ({ crashAt, ops }) => {
      runs++
      const t = tempDir()
      const h = new Harness(t.dir)
      const trace: string[] = []
      try {
        const t0 = Date.now()
        await h.start(crashAt)
        if (crashAt !== null) trace.push(`serve with HOTSWAP_TEST_CRASH_AT=${crashAt}`)
        if (process.env.HOTSWAP_FUZZ_TRACE === '1') tt.diagnostic(`start ${Date.now() - t0} ms`)
        const m = freshModel()
        await check(h, m)
        for (const o of ops) {
          const t0 = Date.now()
          trace.push(await step(h, m, o))
          const t1 = Date.now()
          await check(h, m)
          if (process.env.HOTSWAP_FUZZ_TRACE === '1') tt.diagnostic(`${trace.at(-1) as string}: ${t1 - t0} ms + check ${Date.now() - t1} ms`)
          const last = trace.at(-1) as string
          const kind = /→ HOTSWAP_ERR_\w+/.test(last) ? `${o.kind} refused` : /crashed at/.test(last) ? `${o.kind} crashed ${/recovered (\w+)/.exec(last)?.[1] ?? ''}` : o.kind
          tally.set(kind, (tally.get(kind) ?? 0) + 1)
        }
      } catch (err) {
        throw new Error(`${(err as Error).message}\nsteps:\n  ${trace.join('\n  ')}\n  ✗ the next step\nserve output (end):\n${h.served?.output().slice(-3000) ?? ''}`)
      } finally {
        if (h.served !== undefined) {
          const pid = h.served.pid
          await h.served.stop()
          if (isAlive(pid)) process.kill(pid, 'SIGKILL')
        }
        for (const pid of await waitGone([...h.workers], 5_000)) process.kill(pid, 'SIGKILL')
        t.cleanup()
      }
    }), { numRuns: CASES, seed: SEED, endOnFailure: true })
  } catch (err) {
    const cause = (err as Error).cause
    throw new Error(`seed ${SEED} (replay: HOTSWAP_FUZZ_SEED=${SEED}): ${(err as Error).message}${cause instanceof Error ? `\n${cause.message}` : ''}`)
  }
  tt.diagnostic(`seed ${SEED}: ${runs} runs, ${runs * STEPS} steps: ${[...tally.entries()].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`)
})
