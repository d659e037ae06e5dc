// Section L of the bench (issue 15): what `hotswap logs --follow` costs at 1,000 lines/s. The
// target says it "adds ≤ 1% to a worker's CPU"; read both ways, and both are evaluated:
//   absolute: the worker's CPU with a follower minus without, ≤ 1 percentage point of one core
//   relative: that difference over the worker's CPU without, ≤ 1%
// A follower is served by the primary (its ring of records, fed by every worker's pipe): a worker
// does the same with or without one, so its figure should be 0 within the noise; the primary's
// CPU is shown beside it, and the follower's own.
//
//   L1 `hotswap serve` of log-app.mjs, 2 workers, each writing 500 lines/s (1,000 in all, one
//      console.log a line). Windows of the same length, in rounds; each round has one window
//      without a follower, one with `hotswap logs --follow --json > FILE` and one with the
//      pretty `hotswap logs --follow > FILE`, in an order that rotates from round to round so
//      what else runs on the machine falls on all three alike. Per window, each worker's CPU, the
//      primary's, the follower's: the run time of their threads (/proc/PID/task/*/schedstat, ns;
//      /proc/PID/stat's 10 ms ticks would be 8 ticks of a worker at 2% in 4 s). Counted, not assumed:
//      the lines written (the app numbers its lines; the last number seen at either end of the
//      window), the app's records the primary logged, and the app's lines the follower wrote
//      into its file during the window (the file's size at either end, its lines counted after).
import fs from 'node:fs'
import { join } from 'node:path'
import { processCpuMs } from './lib/cpu.mjs'
import { createDatabase } from './lib/db.mjs'
import { BENCH, sleep, startCli, startServe } from './lib/proc.mjs'
import { median, round } from './lib/stats.mjs'

const MB = 1024 * 1024
const WORKERS = 2
const LINES_PER_SECOND = 1000
const MODES = ['none', 'json', 'pretty']
const APP_LINE = /benchlog pid=(\d+) seq=(\d+) t=(\d+)/
/** How long at most a follower runs on after its window, for what the window wrote to reach it. */
const DRAIN_MS = 5000

/** The app's lines in `text`, one line each: { pid, seq, t } (t: when the app wrote it, Date.now()). */
function appLines (lines) {
  const out = []
  for (const line of lines) {
    const m = APP_LINE.exec(line)
    if (m !== null) out.push({ pid: m[1], seq: Number(m[2]), t: Number(m[3]) })
  }
  return out
}

/** Of `lines`, those the app wrote in [from, to): how many, and how many the app numbered there (the seq's range per pid). */
function inWindow (lines, from, to) {
  const seqs = new Map()
  let n = 0
  for (const l of lines) {
    if (l.t < from || l.t >= to) continue
    n++
    const s = seqs.get(l.pid) ?? { min: Infinity, max: -Infinity }
    seqs.set(l.pid, { min: Math.min(s.min, l.seq), max: Math.max(s.max, l.seq) })
  }
  return { n, numbered: [...seqs.values()].reduce((a, s) => a + s.max - s.min + 1, 0) }
}

export async function sectionL ({ runDir, quick, log }) {
  const dir = join(runDir, 'logs')
  fs.mkdirSync(dir, { recursive: true })
  const db = join(dir, 'live.sqlite3')
  createDatabase(db, { bytes: 1 * MB, gen: 1 })
  // Rounds of 3: every mode takes every place in the order once (the worker's CPU drifts down
  // for a while after start-up, as V8 optimizes it).
  const rounds = 3
  const windowMs = quick ? 2000 : 3500
  const served = await startServe({ db, workers: WORKERS, dir, app: join(BENCH, 'log-app.mjs'), env: { BENCH_LINES_PER_SECOND: String(LINES_PER_SECOND / WORKERS) } })
  // The app's records the primary logged (to its stdout, read by the bench), kept as numbers:
  // the records themselves are dropped as they are read (1,000 a second would pile up).
  const logged = []
  const scan = () => {
    logged.push(...appLines(served.logs.map((e) => e.message ?? '')))
    served.logs.length = 0
  }
  const windows = []
  let follower = null
  try {
    const workers = served.workerPids()
    if (workers.length !== WORKERS) throw new Error(`expected ${WORKERS} worker pids, saw ${workers.length}`)
    await sleep(1000)
    // Round 0, a warm-up kept apart (half-length windows): one without a follower, then the first
    // follower's.
    const schedule = [{ r: -1, mode: 'none' }, { r: -1, mode: 'json' }]
    for (let r = 0; r < rounds; r++) for (let k = 0; k < MODES.length; k++) schedule.push({ r, mode: MODES[(r + k) % MODES.length] })
    for (const { r, mode } of schedule) {
      const file = join(dir, `follow-${r}-${mode}.txt`)
      if (mode !== 'none') {
        follower = startCli(['logs', '--follow', ...(mode === 'json' ? ['--json'] : []), '--socket', served.socket], { stdoutFile: file })
        const deadline = Date.now() + 15_000
        while (fs.statSync(file).size === 0) {
          if (follower.exited() || Date.now() > deadline) throw new Error(`logs --follow printed nothing: ${follower.stderr()}`)
          await sleep(20)
        }
      }
      // The follower's start-up (oclif, the JIT) is not what a follower left running costs.
      await sleep(1000)
      scan()
      const pids = [...workers, served.pid, ...(follower === null ? [] : [follower.pid])]
      const cpu0 = pids.map(processCpuMs)
      const from = Date.now()
      const t0 = performance.now()
      await sleep(r < 0 ? windowMs / 2 : windowMs)
      const cpu1 = pids.map(processCpuMs)
      const to = Date.now()
      const seconds = (performance.now() - t0) / 1000
      // Until both ends have seen a line written after the window from every worker (they lag
      // behind the app when the machine is busy).
      const caughtUp = (lines) => workers.every((pid) => lines.some((l) => l.pid === String(pid) && l.t >= to))
      const tail = () => {
        const size = fs.statSync(file).size
        const fd = fs.openSync(file, 'r')
        const buf = Buffer.alloc(Math.min(size, 64 * 1024))
        fs.readSync(fd, buf, 0, buf.length, size - buf.length)
        fs.closeSync(fd)
        return appLines(buf.toString('utf8').split('\n'))
      }
      const drained = Date.now() + DRAIN_MS
      for (;;) {
        scan()
        if ((caughtUp(logged) && (follower === null || caughtUp(tail()))) || Date.now() > drained) break
        await sleep(50)
      }
      let followed = null
      if (follower !== null) {
        if (follower.exited()) throw new Error(`logs --follow ended early: ${follower.stderr()}`)
        await follower.stop()
        follower = null
        const text = fs.readFileSync(file, 'utf8').split('\n')
        const missed = text.map((line) => /(\d+) record\(s\) not shown/.exec(line)).reduce((n, m) => n + (m === null ? 0 : Number(m[1])), 0)
        followed = { received: inWindow(appLines(text), from, to).n, missed }
        fs.rmSync(file)
      }
      const pct = (i) => round((cpu1[i] - cpu0[i]) / 10 / seconds, 2)
      const primary = inWindow(logged, from, to)
      logged.length = 0
      const workerMs = workers.reduce((n, _, i) => n + cpu1[i] - cpu0[i], 0)
      const w = {
        round: r + 1,
        mode,
        seconds: round(seconds, 2),
        workerCpuPercent: workers.map((_, i) => pct(i)),
        primaryCpuPercent: pct(WORKERS),
        followerCpuPercent: followed === null ? null : pct(WORKERS + 1),
        // The app's numbering says what it wrote; the primary's records and the follower's
        // file what came through.
        written: primary.numbered,
        logged: primary.n,
        received: followed?.received ?? null,
        missed: followed?.missed ?? null,
        workerUsPerLine: round(workerMs * 1000 / Math.max(1, primary.numbered), 1),
      }
      windows.push(w)
      const perS = (n) => round(n / seconds, 0)
      log(`L1 ${r < 0 ? 'warm-up' : `round ${r + 1}`} ${mode}: workers ${w.workerCpuPercent.join(' / ')}%, primary ${w.primaryCpuPercent}%` +
        (followed === null ? '' : `, follower ${w.followerCpuPercent}%`) +
        `; lines/s written ${perS(w.written)}, logged ${perS(w.logged)}` + (followed === null ? '' : `, received ${perS(w.received)}`))
    }
  } finally {
    if (follower !== null) await follower.stop()
    await served.stop()
  }
  const warmUp = windows.filter((w) => w.round === 0)
  windows.splice(0, warmUp.length)
  const byMode = {}
  for (const mode of MODES) {
    const ws = windows.filter((w) => w.mode === mode)
    const seconds = ws.reduce((n, w) => n + w.seconds, 0)
    // CPU over all of a mode's windows: the sum of the time used over the sum of the time taken
    // (each window is short, so that the rounds interleave finely).
    const weighted = (f) => round(ws.reduce((n, w) => n + f(w) * w.seconds, 0) / seconds, 2)
    const sum = (k) => ws.reduce((n, w) => n + w[k], 0)
    byMode[mode] = {
      seconds: round(seconds, 1),
      workerCpuPercent: weighted((w) => w.workerCpuPercent.reduce((a, b) => a + b, 0) / WORKERS),
      primaryCpuPercent: weighted((w) => w.primaryCpuPercent),
      followerCpuPercent: mode === 'none' ? null : weighted((w) => w.followerCpuPercent),
      writtenPerSecond: round(sum('written') / seconds, 0),
      loggedPerSecond: round(sum('logged') / seconds, 0),
      receivedPerSecond: mode === 'none' ? null : round(sum('received') / seconds, 0),
      missed: mode === 'none' ? null : sum('missed'),
      lost: mode === 'none' ? sum('written') - sum('logged') : sum('written') - sum('received'),
      workerUsPerLine: round(weighted((w) => w.workerCpuPercent.reduce((a, b) => a + b, 0)) * 10_000 / (sum('written') / seconds), 1),
    }
  }
  const none = byMode.none
  // How much the worker's CPU moves with nothing changed: the range of the windows without a follower.
  const noneWorker = windows.filter((w) => w.mode === 'none').map((w) => w.workerCpuPercent.reduce((a, b) => a + b, 0) / WORKERS)
  const added = {}
  for (const mode of ['json', 'pretty']) {
    const m = byMode[mode]
    const paired = windows.filter((w) => w.mode === mode).map((w) => {
      const base = windows.find((x) => x.round === w.round && x.mode === 'none')
      return (w.workerCpuPercent.reduce((a, b) => a + b, 0) - base.workerCpuPercent.reduce((a, b) => a + b, 0)) / WORKERS
    })
    added[mode] = {
      // The same difference within each round, then their median: a drift between rounds falls out.
      workerPointsPairedMedian: round(median(paired), 2),
      workerPoints: round(m.workerCpuPercent - none.workerCpuPercent, 2),
      workerRelative: round((m.workerCpuPercent - none.workerCpuPercent) / none.workerCpuPercent, 4),
      workerUsPerLineRelative: round((m.workerUsPerLine - none.workerUsPerLine) / none.workerUsPerLine, 4),
      primaryPoints: round(m.primaryCpuPercent - none.primaryCpuPercent, 2),
    }
  }
  return {
    workers: WORKERS,
    linesPerSecond: LINES_PER_SECOND,
    rounds,
    windowMs,
    windows,
    warmUp,
    byMode,
    added,
    noiseWorkerPoints: round(Math.max(...noneWorker) - Math.min(...noneWorker), 2),
  }
}

export function evaluateL (l, target) {
  if (l?.added === undefined) return
  const { json, pretty } = l.added
  const { none } = l.byMode
  const worst = Math.max(json.workerPoints, pretty.workerPoints)
  const worstRel = Math.max(json.workerRelative, pretty.workerRelative)
  const rate = `${Math.min(none.writtenPerSecond, l.byMode.json.writtenPerSecond, l.byMode.pretty.writtenPerSecond)}–` +
    `${Math.max(none.writtenPerSecond, l.byMode.json.writtenPerSecond, l.byMode.pretty.writtenPerSecond)} lines/s written`
  target('15 logs --follow: added CPU of a worker (absolute)', `${fmtPoints(json.workerPoints)} / ${fmtPoints(pretty.workerPoints)} pp`, '≤ 1 pp of a core', worst <= 1,
    `--json / pretty, of ${none.workerCpuPercent}% without (median of each round's difference ${fmtPoints(json.workerPointsPairedMedian)} / ${fmtPoints(pretty.workerPointsPairedMedian)}); ${rate}; the primary ${fmtPoints(json.primaryPoints)} / ${fmtPoints(pretty.primaryPoints)} pp`)
  target('15 logs --follow: added CPU of a worker (relative)', `${fmtRel(json.workerRelative)} / ${fmtRel(pretty.workerRelative)}`, '≤ 1% of its CPU', worstRel <= 0.01,
    `--json / pretty; per line written ${fmtRel(json.workerUsPerLineRelative)} / ${fmtRel(pretty.workerUsPerLineRelative)}; ` +
    `windows without a follower alone spread over ${l.noiseWorkerPoints} pp (${fmtRel(l.noiseWorkerPoints / none.workerCpuPercent).slice(1)} of it): ` +
    'a figure inside that is noise')
  const lost = l.byMode.json.lost + l.byMode.pretty.lost
  target('15 logs --follow: lines written, not received', String(lost), '0', lost === 0, `${l.byMode.json.missed + l.byMode.pretty.missed} of them reported dropped (a slow reader)`)
}

function fmtPoints (x) {
  return `${x >= 0 ? '+' : ''}${x.toFixed(2)}`
}

function fmtRel (x) {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
}

export function rowsL (l) {
  if (l?.added === undefined) return []
  const { none, json, pretty } = l.byMode
  const over = `${l.rounds} rounds of ${l.windowMs / 1000} s windows, rotating order, ${l.workers} workers`
  return [
    ['15 logs --follow at 1,000 lines/s: a worker\'s CPU', `--json ${json.workerCpuPercent}%, pretty ${pretty.workerCpuPercent}%`, `no follower ${none.workerCpuPercent}%`,
      `added ${fmtPoints(l.added.json.workerPoints)} / ${fmtPoints(l.added.pretty.workerPoints)} pp (${fmtRel(l.added.json.workerRelative)} / ${fmtRel(l.added.pretty.workerRelative)}); ${over}`],
    ['15   a worker\'s CPU per line written', `--json ${json.workerUsPerLine} µs, pretty ${pretty.workerUsPerLine} µs`, `no follower ${none.workerUsPerLine} µs`,
      `${fmtRel(l.added.json.workerUsPerLineRelative)} / ${fmtRel(l.added.pretty.workerUsPerLineRelative)}: does not move with how much CPU the worker got`],
    ['15   the primary\'s CPU', `--json ${json.primaryCpuPercent}%, pretty ${pretty.primaryCpuPercent}%`, `no follower ${none.primaryCpuPercent}%`,
      `added ${fmtPoints(l.added.json.primaryPoints)} / ${fmtPoints(l.added.pretty.primaryPoints)} pp of a core; the follower itself ${json.followerCpuPercent}% / ${pretty.followerCpuPercent}%`],
    ['15   lines/s written / logged / received', `--json ${json.writtenPerSecond} / ${json.loggedPerSecond} / ${json.receivedPerSecond}, pretty ${pretty.writtenPerSecond} / ${pretty.loggedPerSecond} / ${pretty.receivedPerSecond}`,
      `no follower ${none.writtenPerSecond} / ${none.loggedPerSecond}`, `counted by the time the app wrote each line: its numbering, the primary's records, the follower's output; ${json.lost + pretty.lost} not received`],
  ]
}
