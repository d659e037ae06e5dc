// Undo under continuous HTTP load (issue 13, generations): `hotswap undo` after a push serves the
// old data again with no failed and no torn request, and no request started after undo returned
// sees the undone data; an undo can itself be undone; `--to` goes back to an older kept id;
// history and status report it; the kept files on disk are exactly the manifest's after every
// step (--keep bounds them); the gem's client (a raw control frame) can undo too.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import {
  cli, type DatabaseHistoryReport, exchange, gemStream, generationsFolder, historyOf, load, request, type ServedLive,
  serveInFolder, settledManifest, status, statusJson, tempDir, TrackedLoad,
} from '../support/index.js'

let t: ReturnType<typeof tempDir>
/** --keep 1: push, undo, undo of the undo, then more pushes. */
let one: ServedLive
/** --keep 3: three pushes, undo --to an older one, an undo over a raw socket. */
let three: ServedLive

before(async () => {
  t = tempDir()
  // Each kept as soon as it is up, so after() stops it even when the other did not start.
  await Promise.all([
    serveInFolder(t.dir, 'one', { labels: ['v2', 'v3', 'v4'], args: ['--keep', '1'] }).then((s) => { one = s }),
    serveInFolder(t.dir, 'three', { labels: ['v2', 'v3', 'v4'], args: ['--keep', '3'] }).then((s) => { three = s }),
  ])
})

after(async () => {
  const codes = await Promise.all([one?.served.stop(), three?.served.stop()])
  t?.cleanup()
  assert.deepEqual(codes, [0, 0], 'both servers exit 0 on SIGTERM')
})

/** Runs the real CLI against `s`'s server; it must print exactly OK and exit 0. */
async function ok (s: ServedLive, args: string[]): Promise<void> {
  const res = await cli([...args, '--socket', s.served.socket], { cwd: s.dir })
  assert.equal(res.code, 0, `hotswap ${args.join(' ')} exit code; stderr: ${res.stderr}`)
  assert.equal(res.stdout.toString(), 'OK\n', `hotswap ${args.join(' ')} stdout`)
  assert.equal(res.stderr, '', `hotswap ${args.join(' ')} stderr`)
}

/** `history --json` through the real CLI, or (`raw`) over the socket, without a CLI start-up. */
async function history (s: ServedLive, raw = false): Promise<DatabaseHistoryReport> {
  let dbs: DatabaseHistoryReport[]
  if (raw) {
    dbs = await historyOf(s.served.socket)
  } else {
    const res = await cli(['history', '--json', '--socket', s.served.socket], { cwd: s.dir })
    assert.equal(res.code, 0, res.stderr)
    dbs = (JSON.parse(res.stdout.toString()) as { databases: DatabaseHistoryReport[] }).databases
  }
  assert.equal(dbs.length, 1)
  return dbs[0] as DatabaseHistoryReport
}

/**
 * Every request started from now on reads `label`: short bursts on fresh connections and on
 * keep-alive ones opened before the swap, /torn reads included (label and count both agree).
 */
async function servesOnly (s: ServedLive, label: string): Promise<void> {
  const check = (_path: string, body: Record<string, unknown>): string | null =>
    (body.label ?? body.first) === label && (body.second === undefined || body.second === label) ? null : `read ${JSON.stringify(body)}, not ${label}`
  const bursts = [false, true].map((keepAlive) => load(s.served.port, { paths: ['/label', '/torn?ms=2'], concurrency: 4, keepAlive, maxMs: 250, check }))
  for (const b of bursts) {
    const stats = await b.stop()
    assert.equal(stats.failed, 0, `requests after the swap to ${label} failed: ${stats.errors.join('; ')}`)
    assert.equal(stats.bad, 0, `requests started after the swap returned read other data: ${stats.badBodies.join('; ')}`)
    assert.ok(stats.ok > 0, 'some requests were served after the swap')
  }
}

/**
 * The kept files are exactly the manifest's kept list, and nothing else is in the folder
 * (once the digests computed after the reply are in: until then the manifest may be rewritten).
 */
async function diskMatchesManifest (s: ServedLive): Promise<number[]> {
  const m = await settledManifest(s.live)
  const kept = m.generations.filter((g) => g.id !== m.live).map((g) => g.id).sort((a, b) => a - b)
  assert.deepEqual(readdirSync(generationsFolder(s.live)).sort(), ['manifest.json', ...kept.map((id) => `${id}.sqlite3`)].sort(),
    `.hotswap/live.sqlite3/ holds the manifest and the kept generations it lists, nothing else (manifest: ${JSON.stringify(m.generations.map((g) => g.id))}, live ${m.live})`)
  return kept
}

/** The ids, the live one and the sources of a history, newest first. */
function shape (h: DatabaseHistoryReport): Array<[number, boolean, unknown]> {
  return h.generations.map((g) => [g.id, g.live, g.source])
}

test('undo after a push under load: old data back at once, 0 failed, 0 torn; undo of the undo; --keep 1 keeps one', async (tt) => {
  const s = one
  const traffic = new TrackedLoad(s.served.port, { paths: ['/label', '/torn?ms=3'], concurrency: 4, maxMs: 60_000 })
  try {
    await ok(s, ['cp', s.files.v2 as string, s.live])
    await servesOnly(s, 'v2')
    assert.deepEqual(await diskMatchesManifest(s), [1])

    await ok(s, ['undo'])
    await servesOnly(s, 'v1')
    let h = await history(s)
    assert.equal(h.live, 3)
    assert.deepEqual(shape(h), [[3, true, { kind: 'undo', of: 1 }], [2, false, { kind: 'file', path: s.files.v2 }]],
      'the undo is a new generation whose content is generation 1; the undone push is kept')
    assert.deepEqual(await diskMatchesManifest(s), [2])
    let st = (await statusJson(s.served.socket, s.dir)).databases[0]
    assert.deepEqual([st?.generation, st?.kept, st?.staged], [3, 1, null], 'status: generation 3 live, 1 kept, nothing staged')

    await ok(s, ['undo', 'live'])
    await servesOnly(s, 'v2')
    h = await history(s, true)
    assert.deepEqual(shape(h), [[4, true, { kind: 'undo', of: 2 }], [3, false, { kind: 'undo', of: 1 }]], 'the undo of the undo brings v2 back')
    assert.deepEqual(await diskMatchesManifest(s), [3])

    // Two more pushes: with --keep 1 exactly one kept file, the generation replaced last.
    await ok(s, ['cp', s.files.v3 as string, s.live])
    await ok(s, ['cp', s.files.v4 as string, s.live])
    await servesOnly(s, 'v4')
    assert.deepEqual(await diskMatchesManifest(s), [5])
    st = (await status(s.served.socket)).databases[0]
    assert.deepEqual([st?.generation, st?.kept], [6, 1])
  } finally {
    await traffic.stop()
  }
  assert.deepEqual(traffic.failures, [], `failed requests across the pushes and the undos (${traffic.summary()})`)
  assert.deepEqual(traffic.bad, [], `torn reads (${traffic.summary()})`)
  assert.ok(traffic.ok > 0)
  const undos = s.served.logs().filter((l) => l.event === 'undo')
  assert.equal(undos.length, 2, 'each undo is logged')
  assert.deepEqual((undos[0]?.databases as Array<Record<string, unknown>>).map((d) => [d.name, d.from, d.to]), [['live', 2, 3]])
  tt.diagnostic(`under load: ${traffic.summary()}; undo pauses ${undos.map((l) => `${String(l.pauseMs)} ms`).join(', ')}`)
})

test('--keep 3: undo --to an older generation, history newest first, status; an undo from the gem\'s raw socket', async (tt) => {
  const s = three
  const traffic = new TrackedLoad(s.served.port, { paths: ['/label', '/torn?ms=3'], concurrency: 4, maxMs: 60_000 })
  try {
    for (const label of ['v2', 'v3', 'v4']) await ok(s, ['cp', s.files[label] as string, s.live])
    await servesOnly(s, 'v4')
    let h = await history(s)
    assert.deepEqual(shape(h), [
      [4, true, { kind: 'file', path: s.files.v4 }],
      [3, false, { kind: 'file', path: s.files.v3 }],
      [2, false, { kind: 'file', path: s.files.v2 }],
      [1, false, { kind: 'existing' }],
    ], 'newest first, the live one marked, where each came from')
    assert.equal(h.keep, 3)
    assert.deepEqual(await diskMatchesManifest(s), [1, 2, 3])

    const v2 = h.generations.find((g) => g.source.kind === 'file' && g.source.path === s.files.v2)
    assert.ok(v2 !== undefined)
    await ok(s, ['undo', s.live, '--to', String(v2.id)])
    await servesOnly(s, 'v2')
    // The retired generation's digest is written after the reply (off the pause, under the lock).
    await settledManifest(s.live)
    h = await history(s, true)
    assert.deepEqual(shape(h), [
      [5, true, { kind: 'undo', of: 2 }],
      [4, false, { kind: 'file', path: s.files.v4 }],
      [3, false, { kind: 'file', path: s.files.v3 }],
      [1, false, { kind: 'existing' }],
    ], 'generation 2 went live as 5; the one it replaced is kept')
    for (const g of h.generations) {
      assert.match(String(g.digest), /^sha256:[0-9a-f]{64}$/, `generation ${g.id} has its digest`)
      assert.ok(g.bytes > 0 && !Number.isNaN(Date.parse(g.createdAt)))
    }
    assert.deepEqual(await diskMatchesManifest(s), [1, 3, 4])
    const st = (await statusJson(s.served.socket, s.dir)).databases[0]
    assert.deepEqual([st?.generation, st?.kept, st?.staged], [5, 3, null])

    // The gem's client: a control frame with args ['undo'] and no protocol field.
    const r = await exchange(s.served.socket, gemStream(['undo']), { timeoutMs: 15_000 })
    assert.deepEqual(r.oddities, [])
    assert.equal(r.control?.exit, 0, `raw undo answered: ${r.stderr}`)
    assert.equal(r.stdout.toString(), 'OK\n')
    await servesOnly(s, 'v4')
    assert.deepEqual(shape(await history(s, true)).slice(0, 2), [[6, true, { kind: 'undo', of: 4 }], [5, false, { kind: 'undo', of: 2 }]])
    assert.deepEqual(await diskMatchesManifest(s), [1, 3, 5])
  } finally {
    await traffic.stop()
  }
  assert.deepEqual(traffic.failures, [], `failed requests (${traffic.summary()})`)
  assert.deepEqual(traffic.bad, [], `torn reads (${traffic.summary()})`)
  const last = await request(s.served.port, '/label', { keepAlive: false })
  assert.equal(last.json().label, 'v4')
  tt.diagnostic(`under load: ${traffic.summary()}`)
})
