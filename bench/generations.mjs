// Section G of the bench (issue 13): what generations cost a swap. run.mjs calls it, with the
// other sections, and prints its rows and targets.
//
//   G1 pauses, 2 workers, 3 databases of 1 MB (app, cache, queue; the app reads all three),
//      under the closed-loop load of section A, interleaved repetitions in rotating order of:
//        push app ─ stage app + commit ─ stage app, cache, queue + commit ─ undo app
//      each pause from serve's own "pause window" line (pauseMs, install steps per database)
//   G2 per size (100 MB; 1 GB in full mode when the disk has room), serve --keep 0 then
//      --keep 1, under the light load: `hotswap cp FILE LIVE` (the real CLI) timed spawn → exit,
//      its pause, the upload's digest from serve's log ("digest of the upload … in X ms"), and
//      the digest of the retired file, which runs under the swap lock after the reply: a
//      1 MB push of a second database sent the moment cp exits is timed until it takes the lock.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { join } from 'node:path'
import { createDatabase, deriveDatabase, removeDatabase, SKUS } from './lib/db.mjs'
import { control, pushFrames, runCli, sleep, startLoad, startServe } from './lib/proc.mjs'
import { fmtBytes, fmtMs, percentile, round, summary } from './lib/stats.mjs'

const MB = 1024 * 1024
const WORKERS = 2
const NAMES = ['app', 'cache', 'queue']
const KINDS = ['push', 'commit1', 'commit3', 'undo']
const LABEL = { push: 'push of 1 db', commit1: 'commit of 1 staged db', commit3: 'commit of 3 staged dbs', undo: 'undo of 1 db' }

function digestNote () {
  let shaNi = false
  try { shaNi = /\bsha_ni\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) } catch { /* not Linux */ }
  return `SHA-256 (node:crypto${shaNi ? ', SHA-NI: ~1.1 GB/s on an idle core' : ', no SHA-NI on this CPU'}), on a pool thread, never inside the pause`
}

const pauseLines = (served) => served.logs.filter((l) => typeof l.message === 'string' && l.message.startsWith('pause window'))

/** The serve log line matching `re` that arrives after the first `after` lines. */
async function lineAfter (served, after, re, timeoutMs = 5000) {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const hit = served.logs.slice(after).find((l) => re.test(l.message ?? ''))
    if (hit !== undefined) return hit
    if (performance.now() > deadline) throw new Error(`no log line ${re} within ${timeoutMs} ms:\n${served.tail()}`)
    await sleep(5)
  }
}

function ok (r, what) {
  if ((r.exit ?? r.code) !== 0) throw new Error(`${what} failed (${r.exit ?? r.code}): ${r.stderr}`)
  return r
}

/** Per install step, the sum over the databases of one commit. */
function stepsOf (line) {
  const out = {}
  for (const t of [line.timings ?? []].flat()) for (const [k, v] of Object.entries(t)) out[k] = (out[k] ?? 0) + v
  return out
}

function stats (values) {
  return { ...summary(values), p25: round(percentile(values, 25)), p95: round(percentile(values, 95)) }
}

export async function sectionG ({ runDir, quick, log, load, lightLoad }) {
  const out = { digest: digestNote() }
  out.pauses = await pauses({ runDir, reps: quick ? 8 : 25, log, load })
  out.sizes = []
  const want = quick ? [100 * MB] : [100 * MB, 1024 * MB]
  for (const size of want) {
    // live, two sources, the upload, a kept and a retired file: 8× leaves room for the rest.
    const free = fs.statfsSync(runDir).bavail * fs.statfsSync(runDir).bsize
    if (free < size * 8) {
      out.sizes.push({ bytes: size, skipped: `${fmtBytes(free)} free, ${fmtBytes(size * 8)} wanted` })
      log(`G2: ${fmtBytes(size)} skipped: ${fmtBytes(free)} free`)
      continue
    }
    try {
      out.sizes.push(await keepAndDigest({ runDir, size, reps: size > 100 * MB ? 3 : 5, log, lightLoad }))
    } catch (err) {
      log(`G2 ${fmtBytes(size)} failed: ${err.stack ?? err}`)
      out.sizes.push({ bytes: size, skipped: `failed: ${String(err.message ?? err).split('\n')[0]}` })
    }
  }
  return out
}

async function pauses ({ runDir, reps, log, load }) {
  const dir = join(runDir, 'g1')
  fs.mkdirSync(dir, { recursive: true })
  const base = join(dir, 'base.sqlite3')
  createDatabase(base, { bytes: 1 * MB, gen: 1 })
  const live = Object.fromEntries(NAMES.map((n) => [n, join(dir, `${n}.sqlite3`)]))
  for (const p of Object.values(live)) fs.copyFileSync(base, p)
  const next = join(dir, 'next.sqlite3')
  let gen = 1
  const fresh = () => { deriveDatabase(base, next, ++gen); return next }

  log(`G1: hotswap serve, ${WORKERS} workers, ${NAMES.join(', ')} (1 MB each), ${reps} repetitions under load`)
  const served = await startServe({
    db: live.app, workers: WORKERS, dir, env: { BENCH_DBS: 'cache,queue' },
    args: ['--db', `cache=${live.cache}`, '--db', `queue=${live.queue}`, '--keep', '1'],
  })
  const samples = Object.fromEntries(KINDS.map((k) => [k, []]))
  const steps = Object.fromEntries(KINDS.map((k) => [k, []]))
  const sock = served.socket
  const stage = async (name) => ok(await pushFrames(sock, live[name], fresh(), ['--stage']), `stage of ${name}`).stdout.trim()
  const ops = {
    push: async () => ok(await pushFrames(sock, live.app, fresh()), 'push'),
    commit1: async () => ok(await control(sock, ['commit', await stage('app')]), 'commit of 1'),
    commit3: async () => {
      const ids = []
      for (const n of NAMES) ids.push(await stage(n))
      return ok(await control(sock, ['commit', ...ids]), 'commit of 3')
    },
    undo: async () => ok(await control(sock, ['undo', 'app']), 'undo'),
  }
  let res
  try {
    const loading = startLoad({ ...load, port: served.port, duration: 0, skus: SKUS, check: true })
    await sleep(1000)
    for (let r = 0; r < reps; r++) {
      // Rotated, so no kind always follows the same one.
      for (let i = 0; i < KINDS.length; i++) {
        const kind = KINDS[(i + r) % KINDS.length]
        const before = pauseLines(served).length
        await ops[kind]()
        const deadline = performance.now() + 2000
        while (pauseLines(served).length === before && performance.now() < deadline) await sleep(2)
        const line = pauseLines(served).at(-1)
        samples[kind].push(line.pauseMs)
        steps[kind].push({ installMs: line.installMs, drainMs: line.drainMs, resumeMs: line.resumeMs, ...stepsOf(line) })
        await sleep(20 + Math.random() * 30)
      }
      if ((r + 1) % 5 === 0) log(`G1: ${r + 1} repetitions`)
    }
    await sleep(300)
    res = await loading.stop()
  } finally {
    await served.stop()
  }
  const medianSteps = (xs) => {
    const keys = [...new Set(xs.flatMap((x) => Object.keys(x)))]
    return Object.fromEntries(keys.map((k) => [k, round(percentile(xs.map((x) => x[k] ?? 0), 50))]))
  }
  return {
    reps,
    workers: WORKERS,
    kinds: Object.fromEntries(KINDS.map((k) => [k, { pauseMs: stats(samples[k]), steps: medianSteps(steps[k]), samples: samples[k] }])),
    rps: round(res.rps, 0),
    failures: { requests: res.total, failed: res.errors + res.non2xx, timeouts: res.timeouts, torn: res.check?.torn ?? null, bad: res.check?.bad ?? null },
  }
}

async function keepAndDigest ({ runDir, size, reps, log, lightLoad }) {
  const dir = join(runDir, `g2-${size}`)
  fs.mkdirSync(dir, { recursive: true })
  const live = join(dir, 'live.sqlite3')
  const a = join(dir, 'a.sqlite3')
  const b = join(dir, 'b.sqlite3')
  const probe = join(dir, 'probe.sqlite3')
  const probeNext = join(dir, 'probe-next.sqlite3')
  log(`G2: generating ${fmtBytes(size)} databases`)
  const bytes = createDatabase(live, { bytes: size, gen: 1 })
  deriveDatabase(live, a, 2)
  deriveDatabase(live, b, 3)
  createDatabase(probe, { bytes: 1 * MB, gen: 1 })
  const row = { bytes, reps, keep: {}, sha256AloneMs: round(sha256Ms(a), 1) }
  try {
    for (const keep of [0, 1]) {
      log(`G2: ${reps} pushes of ${fmtBytes(bytes)} with serve --keep ${keep}`)
      const served = await startServe({ db: `app=${live}`, workers: WORKERS, dir, args: ['--db', `probe=${probe}`, '--keep', String(keep)] })
      const m = { cpMs: [], serverMs: [], pauseMs: [], digestMs: [], lockFreeMs: [] }
      try {
        const loading = startLoad({ ...lightLoad, port: served.port, duration: 0, skus: SKUS, check: true })
        await sleep(500)
        for (let i = 0; i < reps; i++) {
          const before = served.logs.length
          const cp = ok(await runCli(['cp', i % 2 === 0 ? a : b, live, '--socket', served.socket]), `cp of ${fmtBytes(bytes)}`)
          const repliedAt = performance.now()
          // The next swap, sent at once: it takes the lock once the retired file's digest is done.
          deriveDatabase(probe, probeNext, 100 + i)
          const probing = pushFrames(served.socket, probe, probeNext)
          const took = await lineAfter(served, before, /^lock taken for probe/, 60_000)
          ok(await probing, 'probe push')
          const digest = await lineAfter(served, before, /^digest of the upload for app: /)
          const complete = await lineAfter(served, before, /^swap of app complete in/)
          const pause = served.logs.slice(before).find((l) => /^pause window .* for app$/.test(l.message ?? ''))
          m.cpMs.push(cp.ms)
          m.serverMs.push(Number(/complete in ([\d.]+) ms/.exec(complete.message)[1]))
          m.pauseMs.push(pause.pauseMs)
          m.digestMs.push(Number(/ in ([\d.]+) ms$/.exec(digest.message)[1]))
          m.lockFreeMs.push(took.receivedAt - repliedAt)
          await sleep(500)
        }
        await loading.stop()
      } finally {
        await served.stop()
      }
      row.keep[keep] = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { ...summary(v), samples: v.map((x) => round(x, 1)) }]))
    }
    // What the probe alone needs before it asks for the lock (upload + checks of 1 MB): the
    // --keep 0 figure, where nothing is digested after the reply.
    row.retiredDigestMs = round(row.keep[1].lockFreeMs.p50 - row.keep[0].lockFreeMs.p50, 1)
  } finally {
    for (const p of [live, a, b, probe, probeNext]) removeDatabase(p)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return row
}

/** SHA-256 of a file in this process, 4 MiB reads (what src/primary/sqlite/digest.ts does). */
function sha256Ms (path) {
  const t = performance.now()
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(4 * MB)
  const fd = fs.openSync(path, 'r')
  try {
    for (let n, at = 0; (n = fs.readSync(fd, buf, 0, buf.length, at)) > 0; at += n) hash.update(buf.subarray(0, n))
  } finally {
    fs.closeSync(fd)
  }
  hash.digest('hex')
  return performance.now() - t
}

export function evaluateG (g, target) {
  const k = g?.pauses?.kinds
  if (k === undefined) return
  const r3 = k.commit3.pauseMs.p50 / k.push.pauseMs.p50
  target('13 pause of a 3-db commit / 1-db push (p50)', `${r3.toFixed(2)}×`, '≤ 1.3×', r3 <= 1.3,
    `${fmtMs(k.commit3.pauseMs.p50)} vs ${fmtMs(k.push.pauseMs.p50)}; p95 ${fmtMs(k.commit3.pauseMs.p95)} vs ${fmtMs(k.push.pauseMs.p95)}; p25 ratio ${(k.commit3.pauseMs.p25 / k.push.pauseMs.p25).toFixed(2)}×`)
  const ru = k.undo.pauseMs.p50 / k.push.pauseMs.p50
  target('13 pause of an undo / push (p50)', `${ru.toFixed(2)}×`, '≤ 1.1×', ru <= 1.1,
    `${fmtMs(k.undo.pauseMs.p50)} vs ${fmtMs(k.push.pauseMs.p50)}; p95 ${fmtMs(k.undo.pauseMs.p95)} vs ${fmtMs(k.push.pauseMs.p95)}; p25 ratio ${(k.undo.pauseMs.p25 / k.push.pauseMs.p25).toFixed(2)}×`)
  const f = g.pauses.failures
  target('13 failed / torn requests during commits and undos', `${f.failed + f.timeouts} / ${f.torn + f.bad}`, '0 / 0', f.failed + f.timeouts + f.torn + f.bad === 0)
}

export function rowsG (g) {
  const rows = []
  if (g?.pauses !== undefined) {
    const p = g.pauses
    for (const kind of KINDS) {
      const x = p.kinds[kind]
      const s = x.steps
      rows.push([`13 pause, ${LABEL[kind]} p25 / p50 / p95`, `${fmtMs(x.pauseMs.p25)} / ${fmtMs(x.pauseMs.p50)} / ${fmtMs(x.pauseMs.p95)}`,
        kind === 'push' ? '' : `${(x.pauseMs.p50 / p.kinds.push.pauseMs.p50).toFixed(2)}× push`,
        `install ${fmtMs(s.installMs)} (checkpoint ${fmtMs(s.checkpoint)}, link ${fmtMs(s.link)}, rename ${fmtMs(s.rename)}, fsync dir ${fmtMs(s.fsyncDir)}), resume ${fmtMs(s.resumeMs)}`])
    }
    rows.push(['13   during them (closed-loop load)', `${p.failures.failed} failed, ${p.failures.timeouts} timeouts, ${p.failures.torn} torn`, '',
      `${p.reps} of each, ${p.workers} workers, ${p.failures.requests} requests, ${p.rps} req/s`])
  }
  for (const s of g?.sizes ?? []) {
    if (s.skipped !== undefined) {
      rows.push([`13 push ${fmtBytes(s.bytes)}, --keep 0 vs 1`, 'skipped', '', s.skipped])
      continue
    }
    const [k0, k1] = [s.keep[0], s.keep[1]]
    rows.push([`13 push ${fmtBytes(s.bytes)} cp FILE LIVE, --keep 1 / --keep 0`, `${fmtMs(k1.cpMs.p50)} / ${fmtMs(k0.cpMs.p50)}`,
      `pause ${fmtMs(k1.pauseMs.p50)} / ${fmtMs(k0.pauseMs.p50)}`, `server side ${fmtMs(k1.serverMs.p50)} / ${fmtMs(k0.serverMs.p50)}; ${s.reps} pushes each, light load`])
    rows.push([`13   digest of the upload ${fmtBytes(s.bytes)}`, `${fmtMs(k1.digestMs.p50)} (${round(s.bytes / MB / (k1.digestMs.p50 / 1000), 0)} MB/s)`,
      `SHA-256 alone in the bench: ${fmtMs(s.sha256AloneMs)} (${round(s.bytes / MB / (s.sha256AloneMs / 1000), 0)} MB/s)`, 'before the lock: part of cp, not of the pause'])
    rows.push([`13   after the reply: next swap takes the lock`, `${fmtMs(k1.lockFreeMs.p50)} (--keep 1)`, `${fmtMs(k0.lockFreeMs.p50)} (--keep 0)`,
      `retired file's digest ≈ ${fmtMs(s.retiredDigestMs)}, under the lock, off the pause`])
  }
  if (g?.digest !== undefined) rows.push(['13   digest used', g.digest, '', ''])
  return rows
}
