// Pushes under continuous concurrent traffic: no request fails, no request reads a mix of two
// databases, and no request started after `cp` returned sees the old data (DESIGN.md, "The
// swap", step 6, and the invariants).

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cli, leftovers, load, type LoadStats, probeAll, request, seed, type Served, startServe, tempDir } from '../support/index.js'

const PUSHES = 18
const WORKERS = 2
const CONCURRENCY = 16

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
/** Seeded row count of each label's file: v0 is the start, v1..vN the pushed files. */
const baseRows = new Map<string, number>()
const files: string[] = []

function rowsFor (i: number): number {
  return 10 + i * 3
}

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0', rows: rowsFor(0) })
  baseRows.set('v0', rowsFor(0))
  for (let i = 1; i <= PUSHES; i++) {
    const f = join(t.dir, `v${i}.sqlite3`)
    seed(f, { label: `v${i}`, rows: rowsFor(i) })
    baseRows.set(`v${i}`, rowsFor(i))
    files.push(f)
  }
  served = await startServe({ dir: t.dir, dbs: [live], workers: WORKERS })
})

after(async () => {
  const code = await served?.stop()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
  t?.cleanup()
})

/**
 * Checks a response body against what any database could have served. Without writes, a
 * /torn read's counts must equal the seeded count of the file its label names; with writes,
 * counts only grow between the two reads of one request and never drop below the seed.
 */
function checker (withWrites: boolean) {
  return (path: string, body: Record<string, unknown>): string | null => {
    if (path.startsWith('/torn')) {
      const { first, second, firstCount, secondCount } = body as { first: string, second: string, firstCount: number, secondCount: number }
      if (first !== second) return `torn label: ${first} then ${second}`
      const base = baseRows.get(first)
      if (base === undefined) return `unknown label ${first}`
      if (!withWrites) {
        if (firstCount !== secondCount) return `torn count: ${firstCount} then ${secondCount} (${first})`
        if (firstCount !== base) return `count ${firstCount} is not ${first}'s ${base}`
      } else {
        if (secondCount < firstCount) return `count went down: ${firstCount} then ${secondCount} (${first})`
        if (firstCount < base) return `count ${firstCount} below ${first}'s seeded ${base}`
      }
      return null
    }
    const label = String(body.label)
    const base = baseRows.get(label)
    if (base === undefined) return `unknown label ${label}`
    if (path.startsWith('/write') && Number(body.count) < base + 1) return `write count ${String(body.count)} too low for ${label}`
    return null
  }
}

/** Pushes files[from..to) one after another; after each, fresh and reused connections must see it. */
async function pushRange (from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const label = `v${i + 1}`
    const res = await cli(['cp', files[i] as string, live, '--socket', served.socket], { cwd: t.dir })
    assert.equal(res.code, 0, `push ${label} exit code; stderr: ${res.stderr}`)
    assert.equal(res.stdout.toString(), 'OK\n', `push ${label} stdout`)
    assert.equal(res.stderr, '', `push ${label} stderr`)
    // Every request started after cp returned must see the new data: new connections (which
    // the primary hands to any worker) and keep-alive ones opened before the swap.
    for (const { raw, body } of await probeAll(served.port, '/label', '/torn?ms=1')) {
      assert.equal(body.label ?? body.first, label, `a request started after cp ${label} returned read ${raw}`)
    }
  }
}

function assertClean (stats: LoadStats, phase: string): void {
  assert.equal(stats.failed, 0, `${phase}: failed requests: ${stats.errors.join('; ')}`)
  assert.equal(stats.bad, 0, `${phase}: bad reads: ${stats.badBodies.join('; ')}`)
  assert.ok(stats.ok > 0, `${phase}: some requests were served`)
}

test(`${PUSHES} pushes under concurrent reads: no failure, no torn read, no stale read after cp`, async (tt) => {
  const half = Math.floor(PUSHES / 2)

  // Reads only: each /torn read's count must be exactly its file's seeded count.
  const reads = load(served.port, { paths: ['/label', '/torn?ms=3', '/label', '/torn?ms=3'], concurrency: CONCURRENCY, maxMs: 60_000, check: checker(false) })
  try {
    await pushRange(0, half)
  } finally {
    await reads.stop()
  }
  assertClean(reads.stats, 'reads only')
  tt.diagnostic(`reads only: ${reads.stats.ok} requests served during ${half} pushes`)

  // Reads and writes together: writes land on whichever file is live and never fail.
  const mixed = load(served.port, { paths: ['/label', '/torn?ms=3', '/write', '/torn?ms=3', '/write?n=3'], concurrency: CONCURRENCY, maxMs: 60_000, check: checker(true) })
  try {
    await pushRange(half, PUSHES)
  } finally {
    await mixed.stop()
  }
  assertClean(mixed.stats, 'reads and writes')
  tt.diagnostic(`reads and writes: ${mixed.stats.ok} requests served during ${PUSHES - half} pushes`)

  // The last pushed file is live, and it is the only thing beside it.
  const final = await request(served.port, '/label', { keepAlive: false })
  assert.equal(final.json().label, `v${PUSHES}`)
  await waitForNoTempFiles(t.dir)

  // The pause window of every swap, as the primary logged it.
  const windows = served.logs().filter((l) => /pause window/.test(String(l.message)))
  assert.equal(windows.length, PUSHES, 'one pause-window line per push')
  const pauses = windows.map((l) => Number(l.pauseMs)).sort((a, b) => a - b)
  const drains = windows.map((l) => Number(l.drainMs)).sort((a, b) => a - b)
  for (const p of pauses) assert.ok(Number.isFinite(p) && p >= 0, `pauseMs ${p}`)
  tt.diagnostic(`pause window over ${pauses.length} swaps under load: median ${median(pauses).toFixed(2)} ms, ` +
    `max ${(pauses.at(-1) as number).toFixed(2)} ms, min ${(pauses[0] as number).toFixed(2)} ms; ` +
    `drain median ${median(drains).toFixed(2)} ms, max ${(drains.at(-1) as number).toFixed(2)} ms`)
})

function median (sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** The hard link to the old file is unlinked just after resume, off the pause window. */
async function waitForNoTempFiles (dir: string): Promise<void> {
  const deadline = Date.now() + 5000
  for (;;) {
    const left = leftovers(dir)
    if (left.length === 0) break
    if (Date.now() > deadline) assert.deepEqual(left, [], 'temp files left beside the live database')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  assert.equal(existsSync(`${live}-journal`), false)
}
