// The benchmark harness of issue 4: the swap against its physical floor and against pm2.
//
//   npm run bench               (build, then the full mode: 200 swaps, 1 MB/100 MB/1 GB)
//   node bench/run.mjs --quick  (under 2 minutes: 30 swaps, 1 MB/100 MB)
//   node bench/run.mjs --quick --only=a   (one section; JSON under bench/tmp, results untouched)
//
//   A. 1 MB database, plain node:cluster primary and `hotswap serve` side by side, 4 workers
//      1 gate overhead     autocannon against each in turn, interleaved rounds
//      2 pause window      floor on the plain cluster (IPC, close, reopen, rename) idle and
//                          under load; hotswap swaps idle and under the same load, timings
//                          from the primary's own "pause window" log lines
//      4 failures          autocannon errors/non-2xx, torn rows, stale reads after `cp` said OK
//   B. per size (1 MB, 100 MB, 1 GB): swaps under light load (3), then push and pull with the
//      real CLI against their floors, primary RSS sampled from /proc (5)
//   C. pm2 (cluster mode, 4 instances): copy into place + `pm2 reload` vs `hotswap cp` (6)
//   G. generations (issue 13, bench/generations.mjs), 2 workers: the pause of a 3-database
//      commit and of an undo against a push's; --keep 0 vs 1 and the digests at 100 MB / 1 GB
//   F. fleet (issue 14, bench/fleet.mjs): 3 hosts on loopback, each its own sshd and serve: the
//      skew between the first and the last resume, each host's pause against its single-host
//      pause and its ssh round trip, the stage time of 1 host and of 3
//   M. metrics (issue 15, bench/metrics.mjs): req/s with `--metrics` scraped every second
//      against without it, two servers of a prom-client app, alternating and at once
//   O. monit (issue 15, bench/monit.mjs): its CPU at the default refresh, and the primary's
//      CPU while it answers
//   L. logs (issue 15, bench/logs.mjs): a worker's CPU and the primary's at 1,000 lines/s with
//      no follower, with `logs --follow --json` and with a pretty follower, alternating
//
// Prints a table, writes bench/results/<date>-<mode>.json and latest-<mode>.json. Every process
// it starts is stopped by pid, and bench/tmp/<run> is removed, on success and on error.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { evaluateF, rowsF, sectionF, stopFleet } from './fleet.mjs'
import { evaluateG, rowsG, sectionG } from './generations.mjs'
import { evaluateM, rowsM, sectionM } from './metrics.mjs'
import { evaluateM as evaluateO, rowsM as rowsO, sectionM as sectionO } from './monit.mjs'
import { evaluateL, rowsL, sectionL } from './logs.mjs'
import { cpuMonitor, treeCpuMs } from './lib/cpu.mjs'
import { createDatabase, deriveDatabase, fsyncFile, labelOf, removeDatabase, SKUS } from './lib/db.mjs'
import {
  BENCH, ROOT, freePort, get, killPid, pollUntilServed, pushFrames, run, runCli, rssKb, sampleRss, sleep, startLoad, startPlain,
  startServe, stopAll,
} from './lib/proc.mjs'
import { fmtBytes, fmtMs, median, round, summary, table } from './lib/stats.mjs'

const QUICK = process.argv.includes('--quick')
// --only=a,c runs those sections alone (for working on one figure); its JSON goes to bench/tmp,
// never over the committed results.
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',')
const MODE = QUICK ? 'quick' : 'full'
const MB = 1024 * 1024
const WORKERS = 4

const CONFIG = {
  mode: MODE,
  workers: WORKERS,
  // Closed loop: every connection sends its next request when the last one is answered, so the
  // 2 cores are saturated. "Under load" below means this.
  load: { connections: 32, rate: 0 },
  // Light load for the size and pm2 sections: fixed rate, a fraction of capacity.
  lightLoad: { connections: 8, rate: 2000 },
  gate: QUICK ? { rounds: 3, seconds: 3, warmupSeconds: 1 } : { rounds: 6, seconds: 8, warmupSeconds: 2 },
  swaps: QUICK ? { idle: 20, loaded: 30 } : { idle: 50, loaded: 200 },
  floorRounds: QUICK ? 40 : 200,
  sizes: QUICK ? [1 * MB, 100 * MB] : [1 * MB, 100 * MB, 1024 * MB],
  swapsPerSize: QUICK ? { [1 * MB]: 8, [100 * MB]: 5 } : { [1 * MB]: 15, [100 * MB]: 15, [1024 * MB]: 11 },
  transferSizes: QUICK ? [100 * MB] : [100 * MB, 1024 * MB],
  pm2Ships: QUICK ? 2 : 4,
}

const RUN_DIR = join(BENCH, 'tmp', `run-${process.pid}`)
const PM2_HOME = join(RUN_DIR, 'pm2')
const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2')
const PM2_NAME = 'hotswap-bench'

const results = {
  mode: MODE,
  date: new Date().toISOString(),
  machine: machineInfo(),
  config: CONFIG,
  sections: {},
  targets: [],
}

function log (msg) {
  process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`)
}
const T0 = performance.now()

function machineInfo () {
  let disk = null
  try {
    fs.mkdirSync(join(BENCH, 'tmp'), { recursive: true })
    const lines = execFileSync('df', ['-hT', join(BENCH, 'tmp')], { encoding: 'utf8' }).trim().split('\n')
    const [fsName, type, size, , avail] = lines[1].split(/\s+/)
    disk = { device: fsName, type, size, avail }
  } catch { /* no df */ }
  let sqlite = null
  try {
    const db = new Database(':memory:')
    sqlite = db.prepare('SELECT sqlite_version()').pluck().get()
    db.close()
  } catch { /* none */ }
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? null,
    memGiB: round(os.totalmem() / 1024 ** 3, 1),
    disk,
    node: process.version,
    sqlite,
    platform: `${os.platform()} ${os.release()}`,
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

function pauseLines (served) {
  return served.logs.filter((l) => typeof l.message === 'string' && l.message.startsWith('pause window'))
}

function installLines (served) {
  // The install steps ride on the "pause window" line (nothing is logged inside the window).
  return pauseLines(served)
}

/** Summaries of the coordinator's own timings over the given log lines. */
function pauseSummary (lines, installs) {
  const out = {}
  for (const k of ['pauseMs', 'drainMs', 'installMs', 'resumeMs']) out[k] = summary(lines.map((l) => l[k]))
  const steps = {}
  for (const i of installs) for (const [k, v] of Object.entries(i.timings ?? {})) (steps[k] ??= []).push(v)
  out.installSteps = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, summary(v)]))
  return out
}

function failuresOf (loadResult) {
  return {
    requests: loadResult.total,
    errors: loadResult.errors,
    timeouts: loadResult.timeouts,
    non2xx: loadResult.non2xx,
    failed: loadResult.errors + loadResult.non2xx,
    torn: loadResult.check?.torn ?? null,
    bad: loadResult.check?.bad ?? null,
    samples: [...(loadResult.errorSamples ?? []), ...(loadResult.check?.samples ?? [])].slice(0, 10),
  }
}

/** After `cp` said OK, a request started now must see the new label: ask every worker. */
async function probeStale (port, label) {
  let stale = 0
  let failed = 0
  for (let i = 0; i < WORKERS; i++) {
    try {
      const r = await get(port, `/item?sku=${1 + i}`)
      const row = JSON.parse(r.body)
      if (r.status !== 200) failed++
      else if (row.label !== label) stale++
    } catch {
      failed++
    }
  }
  return { stale, failed }
}

function target (name, value, goal, met, note = '') {
  results.targets.push({ name, value, goal, met, note })
}

// ---------------------------------------------------------------------------------------------
// A. gate overhead, pause window, failures (1 MB database)

async function sectionA () {
  const dir = join(RUN_DIR, 'a')
  fs.mkdirSync(dir, { recursive: true })
  const live = join(dir, 'live.sqlite3')
  const plainDb = join(dir, 'plain.sqlite3')
  const floorDb = join(dir, 'floor.sqlite3')
  const base = join(dir, 'base.sqlite3')
  createDatabase(base, { bytes: 1 * MB, gen: 1 })
  for (const p of [live, plainDb, floorDb, `${floorDb}.spare`]) fs.copyFileSync(base, p)

  log('A: starting the plain cluster and hotswap serve (4 workers each)')
  const plain = await startPlain({ db: plainDb, workers: WORKERS, dir, floorDb })
  const served = await startServe({ db: live, workers: WORKERS, dir })
  const out = {}
  try {
    // 1. gate overhead: interleaved rounds, same load, bodies not checked (no bench-side cost).
    const { rounds, seconds, warmupSeconds } = CONFIG.gate
    const loadCfg = { ...CONFIG.load, skus: SKUS, check: false }
    for (const s of [plain, served]) await startLoad({ ...loadCfg, port: s.port, duration: warmupSeconds }).result
    const runs = { plain: [], hotswap: [] }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [['plain', plain], ['hotswap', served]] : [['hotswap', served], ['plain', plain]]
      for (const [name, s] of order) {
        const cpu0 = treeCpuMs(s.pid)
        const res = await startLoad({ ...loadCfg, port: s.port, duration: seconds }).result
        // CPU per request of the server's whole tree (primary + workers): what the gate costs,
        // whatever share of the machine the server got.
        const cpuUsPerReq = (treeCpuMs(s.pid) - cpu0) * 1000 / res.total
        runs[name].push({ rps: res.rps, p50: res.latency.p50, p99: res.latency.p99, failed: res.errors + res.non2xx, cpuUsPerReq: round(cpuUsPerReq, 1) })
        log(`A1 ${name} round ${r + 1}: ${Math.round(res.rps)} req/s, p99 ${res.latency.p99} ms, ${cpuUsPerReq.toFixed(0)} µs CPU/request`)
      }
    }
    // Both at once, the same load on each: the scheduler shares the cores between the two
    // servers' workers, so other processes on the machine hit both alike.
    const together = []
    for (let r = 0; r < rounds; r++) {
      const [p, h] = await Promise.all([plain, served].map((s) => startLoad({ ...loadCfg, port: s.port, duration: seconds }).result))
      together.push({ plain: round(p.rps, 0), hotswap: round(h.rps, 0), ratio: round(h.rps / p.rps, 4) })
      log(`A1 simultaneous round ${r + 1}: plain ${Math.round(p.rps)}, hotswap ${Math.round(h.rps)} req/s`)
    }
    const agg = (xs) => ({
      rps: round(median(xs.map((x) => x.rps)), 0),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      cpuUsPerReq: median(xs.map((x) => x.cpuUsPerReq)),
      failed: xs.reduce((a, x) => a + x.failed, 0),
      rounds: xs,
    })
    out.gate = { plain: agg(runs.plain), hotswap: agg(runs.hotswap), together }
    out.gate.ratio = round(out.gate.hotswap.rps / out.gate.plain.rps, 4)
    out.gate.togetherRatio = median(together.map((x) => x.ratio))
    out.gate.cpuRatio = round(out.gate.plain.cpuUsPerReq / out.gate.hotswap.cpuUsPerReq, 4)

    // 2. floor, idle then under load, on the plain cluster's own workers.
    log('A2: floor (IPC broadcast + acks, close, reopen + first query, rename + dir fsync), idle')
    const floorIdle = await plain.floor(CONFIG.floorRounds)
    log('A2: floor under load')
    const plainLoad = startLoad({ ...loadCfg, port: plain.port, duration: 0 })
    await sleep(1000)
    const floorLoad = await plain.floor(CONFIG.floorRounds)
    const plainLoadRes = await plainLoad.stop()
    const floorOf = (f) => ({
      ipcMs: summary(f.ipcMs),
      closeMs: summary(f.closeMs),
      reopenMs: summary(f.openMs),
      renameFsyncMs: summary(f.renameMs),
      windowMs: summary(f.windowMs),
    })
    out.floor = { idle: floorOf(floorIdle), load: { ...floorOf(floorLoad), rps: round(plainLoadRes.rps, 0) } }

    // 2/4. hotswap swaps, idle then under load, each a new generation derived from the base.
    const next = join(dir, 'next.sqlite3')
    let gen = 1
    const swap = async () => {
      gen++
      deriveDatabase(base, next, gen)
      const r = await pushFrames(served.socket, live, next)
      if (r.exit !== 0) throw new Error(`push of generation ${gen} failed: ${r.stderr}`)
      return { ms: r.ms, ...(await probeStale(served.port, String(gen))) }
    }
    log(`A2: ${CONFIG.swaps.idle} swaps, idle`)
    const idleProbe = { stale: 0, failed: 0 }
    for (let i = 0; i < CONFIG.swaps.idle; i++) {
      const p = await swap()
      idleProbe.stale += p.stale
      idleProbe.failed += p.failed
      await sleep(10)
    }
    const idleCount = pauseLines(served).length
    log(`A2: ${CONFIG.swaps.loaded} swaps under load`)
    const load = startLoad({ ...loadCfg, port: served.port, duration: 0, check: true })
    await sleep(1000)
    const pushMs = []
    const probe = { stale: 0, failed: 0 }
    const tSwaps = performance.now()
    for (let i = 0; i < CONFIG.swaps.loaded; i++) {
      const p = await swap()
      pushMs.push(p.ms)
      probe.stale += p.stale
      probe.failed += p.failed
      await sleep(10 + Math.random() * 30)
      if ((i + 1) % 50 === 0) log(`A2: ${i + 1} swaps`)
    }
    const swapSeconds = (performance.now() - tSwaps) / 1000
    await sleep(300)
    const loadRes = await load.stop()
    const lines = pauseLines(served)
    const installs = installLines(served)
    out.pause = {
      idle: { swaps: idleCount, ...pauseSummary(lines.slice(0, idleCount), installs.slice(0, idleCount)), probe: idleProbe },
      load: {
        swaps: lines.length - idleCount,
        ...pauseSummary(lines.slice(idleCount), installs.slice(idleCount)),
        pushMs: summary(pushMs),
        swapsPerSecond: round((lines.length - idleCount) / swapSeconds, 2),
        rps: round(loadRes.rps, 0),
        latency: loadRes.latency,
        failures: failuresOf(loadRes),
        probe,
        labelsSeen: Object.keys(loadRes.check?.labels ?? {}).length,
      },
    }
  } finally {
    await plain.stop()
    await served.stop()
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// B. pause vs size (3), push and pull throughput and primary RSS (5)

async function sectionB () {
  const out = { sizes: [], transfer: [], cliStartMs: null }
  // What any CLI call pays before it does anything: node + oclif start-up.
  const starts = []
  const bare = []
  for (let i = 0; i < 3; i++) {
    starts.push((await runCli(['version'])).ms)
    bare.push((await run(process.execPath, ['-e', '0'])).ms)
  }
  out.cliStartMs = round(median(starts), 1)
  const cpStarts = []
  for (let i = 0; i < 3; i++) {
    const r = await runCli(['cp', 'a.sqlite3', 'b.sqlite3', '--socket', join(RUN_DIR, 'no-server.sock')])
    if (r.code !== 1 || !r.stderr.includes('HOTSWAP_ERR_NO_SERVER')) throw new Error(`cp without a server: ${r.code} ${r.stderr}`)
    cpStarts.push(r.ms)
  }
  out.cpStartMs = round(median(cpStarts), 1)
  out.nodeStartMs = round(median(bare), 1)

  for (const size of CONFIG.sizes) {
    const dir = join(RUN_DIR, `size-${size}`)
    fs.mkdirSync(dir, { recursive: true })
    const live = join(dir, 'live.sqlite3')
    const a = join(dir, 'a.sqlite3')
    const b = join(dir, 'b.sqlite3')
    log(`B: generating ${fmtBytes(size)} databases`)
    let t = performance.now()
    const bytes = createDatabase(live, { bytes: size, gen: 1 })
    deriveDatabase(live, a, 2)
    deriveDatabase(live, b, 3)
    const genMs = performance.now() - t

    const served = await startServe({ db: live, workers: WORKERS, dir })
    const row = { bytes, genMs: round(genMs, 0) }
    try {
      // 3. swaps under light load, alternating two files (generations 2 and 3).
      const swaps = CONFIG.swapsPerSize[size] ?? 5
      log(`B3: ${swaps} swaps of ${fmtBytes(bytes)} under light load`)
      const load = startLoad({ ...CONFIG.lightLoad, port: served.port, duration: 0, skus: SKUS, check: true })
      await sleep(500)
      const before = pauseLines(served).length
      const pushMs = []
      const probe = { stale: 0, failed: 0 }
      for (let i = 0; i < swaps; i++) {
        const [src, label] = i % 2 === 0 ? [a, '2'] : [b, '3']
        const r = await pushFrames(served.socket, live, src)
        if (r.exit !== 0) throw new Error(`push of ${fmtBytes(bytes)} failed: ${r.stderr}`)
        pushMs.push(r.ms)
        const p = await probeStale(served.port, label)
        probe.stale += p.stale
        probe.failed += p.failed
        await sleep(20)
      }
      const loadRes = await load.stop()
      const lines = pauseLines(served).slice(before)
      Object.assign(row, {
        swaps: lines.length,
        ...pauseSummary(lines, installLines(served).slice(before)),
        pushMs: summary(pushMs),
        failures: failuresOf(loadRes),
        probe,
      })

      // 5. push and pull end to end with the real CLI, against their floors.
      if (CONFIG.transferSizes.includes(size)) {
        log(`B5: push and pull of ${fmtBytes(bytes)} (CLI) and their floors`)
        row.transfer = await transfer({ dir, live, a, b, bytes, served, nodeStartMs: out.nodeStartMs })
      }
      row.renameFloor = renameFloor(dir, a, b)
    } finally {
      await served.stop()
      for (const p of [live, a, b]) removeDatabase(p)
    }
    out.sizes.push(row)
  }
  return out
}

/**
 * Push and pull with the real CLI, the primary's RSS sampled meanwhile, and their floors, in
 * interleaved rounds (medians: one disk fsync can vary 2x from one minute to the next).
 */
async function transfer ({ dir, live, a, b, bytes, served, nodeStartMs }) {
  const rounds = 3
  const m = { push: [], pushStdin: [], pull: [], pullFile: [], copy: [], integrity: [], vacuum: [], socket: [], pushOwn: [] }
  const rss = { before: rssKb(served.pid), push: 0, pushStdin: 0, pull: 0 }
  let pulledBytes = 0
  let serverTimings = null
  let pauseMs = null
  const cli = async (key, args, opts, want) => {
    const sampler = sampleRss(served.pid)
    const r = await runCli(args, opts)
    const kb = sampler.stop().maxKb
    if (key in rss) rss[key] = Math.max(rss[key], kb)
    if (r.code !== 0) throw new Error(`hotswap ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    if (want !== undefined && want() !== true) throw new Error(`hotswap ${args.join(' ')}: the data is not what was pushed or pulled`)
    m[key].push(r.ms)
  }
  for (let round = 0; round < rounds; round++) {
    // Push by path (the server copies the file), then streamed (`cp - LIVE < FILE`, what a
    // client in another mount namespace does too), each time the file that is not live, so
    // every push really changes the data.
    for (const key of ['push', 'pushStdin']) {
      const [src, label] = labelOf(live) === '2' ? [b, '3'] : [a, '2']
      const args = key === 'push' ? ['cp', src, live, '--socket', served.socket] : ['cp', '-', live, '--socket', served.socket]
      await cli(key, args, key === 'push' ? {} : { stdinFile: src }, () => labelOf(live) === label)
      if (key === 'push') {
        serverTimings = served.logs.filter((l) => /^checks passed/.test(l.message ?? '')).pop()?.timings ?? null
        pauseMs = pauseLines(served).pop()?.pauseMs ?? null
        // What the push spent beyond the server's own copy + fsync and checks: the disk-bound
        // part varies 2-5x between minutes here, this part does not.
        const received = /in ([\d.]+) ms$/.exec(served.logs.filter((l) => /^received \d+ bytes/.test(l.message ?? '')).pop()?.message ?? '')
        const checked = Object.values(serverTimings ?? {}).reduce((n, x) => n + x, 0)
        if (received !== null) m.pushOwn.push(m.push.at(-1) - Number(received[1]) - checked)
      }
    }
    const label = labelOf(live)
    const src = label === '2' ? a : b

    // Floor of a push: the same bytes copied (and fsynced, as a push must) and checked alone.
    const scratch = join(dir, 'floor-copy.sqlite3')
    let t = performance.now()
    fs.copyFileSync(src, scratch)
    fsyncFile(scratch)
    m.copy.push(performance.now() - t)
    t = performance.now()
    const db = new Database(scratch, { readonly: true })
    const ok = db.prepare('PRAGMA integrity_check').pluck().all()
    db.close()
    m.integrity.push(performance.now() - t)
    if (ok[0] !== 'ok') throw new Error(`floor integrity_check: ${ok.join(', ')}`)
    removeDatabase(scratch)

    // Floor of streaming: the same bytes between two Node processes over a Unix socket into a
    // file, no framing, no hotswap code (bench/socket-floor.mjs).
    const sfOut = join(dir, 'socket-floor.out')
    const sf = await run(process.execPath, [join(BENCH, 'socket-floor.mjs'), src, sfOut])
    fs.rmSync(sfOut, { force: true })
    if (sf.code !== 0) throw new Error(`socket floor: ${sf.stderr}`)
    m.socket.push(JSON.parse(sf.stdout).ms)

    // Pull to stdout, redirected into a file (streamed), and to a file (written by the server).
    const pulled = join(dir, 'pulled.sqlite3')
    await cli('pull', ['cp', live, '-', '--socket', served.socket], { stdoutFile: pulled }, () => labelOf(pulled) === label)
    pulledBytes = fs.statSync(pulled).size
    removeDatabase(pulled)
    const pulledFile = join(dir, 'pulled-file.sqlite3')
    await cli('pullFile', ['cp', live, pulledFile, '--socket', served.socket], {}, () => labelOf(pulledFile) === label)
    removeDatabase(pulledFile)

    // Floor of a pull: one VACUUM INTO of the live database alone (what the snapshot does).
    const snap = join(dir, 'floor-snapshot.sqlite3')
    t = performance.now()
    const live2 = new Database(live, { readonly: true, fileMustExist: true })
    live2.prepare('VACUUM INTO ?').run(snap)
    live2.close()
    m.vacuum.push(performance.now() - t)
    removeDatabase(snap)
  }

  const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]))
  const pushFloorMs = med.copy + med.integrity
  const out = { rounds, samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.map((x) => round(x, 1))])) }
  out.push = {
    ms: round(med.push, 1),
    mbps: round(bytes / MB / (med.push / 1000), 1),
    serverTimings,
    pauseMs,
    rssBeforeMB: round(rss.before / 1024, 1),
    rssMaxMB: round(rss.push / 1024, 1),
  }
  if (med.pushOwn !== null) out.push.beyondCopyAndChecksMs = round(med.pushOwn, 1)
  out.pushStdin = { ms: round(med.pushStdin, 1), mbps: round(bytes / MB / (med.pushStdin / 1000), 1), rssMaxMB: round(rss.pushStdin / 1024, 1) }
  out.pushFloor = { copyFsyncMs: round(med.copy, 1), integrityMs: round(med.integrity, 1), ms: round(pushFloorMs, 1) }
  out.pushRatio = round(med.push / pushFloorMs, 3)
  out.pushStdinRatio = round(med.pushStdin / pushFloorMs, 3)
  out.pull = { ms: round(med.pull, 1), bytes: pulledBytes, mbps: round(pulledBytes / MB / (med.pull / 1000), 1), rssMaxMB: round(rss.pull / 1024, 1) }
  out.pullFile = { ms: round(med.pullFile, 1) }
  out.pullFloor = { vacuumIntoMs: round(med.vacuum, 1) }
  out.pullRatio = round(med.vacuum / med.pull, 3)
  out.pullFileRatio = round(med.vacuum / med.pullFile, 3)
  out.socketFloorMs = round(med.socket, 1)
  // The best any Node CLI could do here: start a process, then the unavoidable work. A push by
  // path copies and checks; a streamed push moves the bytes through a socket instead of the
  // copy; a pull to stdout takes a whole snapshot first (SQLite writes it out of order), then
  // streams it.
  out.bounds = {
    pushRatio: round((nodeStartMs + pushFloorMs) / pushFloorMs, 3),
    pushStdinRatio: round((nodeStartMs + med.socket + med.integrity) / pushFloorMs, 3),
    pullRatio: round(med.vacuum / (nodeStartMs + med.vacuum + med.socket), 3),
    pullFileRatio: round(med.vacuum / (nodeStartMs + med.vacuum), 3),
  }
  return out
}

/** rename(2) + directory fsync over a file of this size, with and without a link on the old one. */
function renameFloor (dir, a, b) {
  const fsyncDir = () => {
    const fd = fs.openSync(dir, 'r')
    try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
  }
  // With a link: the old inode stays alive, so rename(2) only swaps a directory entry.
  fs.linkSync(b, `${b}.old`)
  let t = performance.now()
  fs.renameSync(a, b)
  fsyncDir()
  const withLinkMs = performance.now() - t
  t = performance.now()
  fs.rmSync(`${b}.old`)
  const unlinkAfterMs = performance.now() - t
  // Without: rename(2) drops the old file's last link and frees its blocks inside the call.
  fs.copyFileSync(b, a)
  fsyncFile(a)
  t = performance.now()
  fs.renameSync(a, b)
  fsyncDir()
  const noLinkMs = performance.now() - t
  return { withLinkMs: round(withLinkMs, 3), unlinkAfterMs: round(unlinkAfterMs, 3), noLinkMs: round(noLinkMs, 3) }
}

// ---------------------------------------------------------------------------------------------
// C. versus pm2 (6)

function pm2 (args, env = {}) {
  return run(PM2, args, { env: { PM2_HOME, ...env }, timeoutMs: 120_000 })
}

async function pm2Pids () {
  const r = await pm2(['jlist'])
  try {
    return JSON.parse(r.stdout).map((p) => p.pid).filter((pid) => pid > 0)
  } catch {
    return []
  }
}

let pm2Started = false

async function pm2Kill () {
  if (!pm2Started) return
  const appPids = await pm2Pids().catch(() => [])
  let daemon = null
  try { daemon = Number(fs.readFileSync(join(PM2_HOME, 'pm2.pid'), 'utf8')) } catch { /* not running */ }
  if (daemon) cpu.removeRoot(daemon)
  await pm2(['kill']).catch(() => {})
  await sleep(300)
  for (const pid of [...appPids, ...(daemon ? [daemon] : [])]) killPid(pid, 'SIGKILL')
  pm2Started = false
}

async function sectionC () {
  const dir = join(RUN_DIR, 'c')
  fs.mkdirSync(dir, { recursive: true })
  const live = join(dir, 'live.sqlite3')
  const base = join(dir, 'base.sqlite3')
  createDatabase(base, { bytes: 1 * MB, gen: 1 })
  fs.copyFileSync(base, live)
  const out = { bytes: fs.statSync(live).size, load: CONFIG.lightLoad }
  let gen = 100

  // pm2: the app standalone, 4 instances in cluster mode, HOTSWAP_DB naming the file.
  const port = await freePort()
  fs.mkdirSync(PM2_HOME, { recursive: true })
  log('C: pm2 start (4 instances, cluster mode)')
  pm2Started = true
  const started = await pm2(['start', join(BENCH, 'app.mjs'), '-i', String(WORKERS), '--name', PM2_NAME],
    { HOTSWAP_DB: live, PORT: String(port) })
  if (started.code !== 0) throw new Error(`pm2 start failed: ${started.stderr}`)
  const daemonPid = Number(fs.readFileSync(join(PM2_HOME, 'pm2.pid'), 'utf8'))
  cpu.addRoot(daemonPid) // pm2's daemon leaves our process tree; its CPU is the bench's
  await pollUntilServed(port, '1', { workers: WORKERS })
  const pm2Runs = []
  let load = startLoad({ ...CONFIG.lightLoad, port, duration: 0, skus: SKUS, check: true })
  await sleep(1000)
  try {
    for (let i = 0; i < CONFIG.pm2Ships; i++) {
      gen++
      const ready = join(dir, `ship-${gen}.sqlite3`)
      deriveDatabase(base, ready, gen) // "new file ready"
      const t0 = performance.now()
      // The pm2 way: copy it into place (beside the live file, fsync, rename), then reload.
      const tmp = `${live}.tmp`
      fs.copyFileSync(ready, tmp)
      fsyncFile(tmp)
      fs.renameSync(tmp, live)
      const copiedMs = performance.now() - t0
      const reload = await pm2(['reload', PM2_NAME])
      if (reload.code !== 0) throw new Error(`pm2 reload failed: ${reload.stderr}`)
      const reloadMs = performance.now() - t0
      const served = await pollUntilServed(port, String(gen), { workers: WORKERS })
      const totalMs = performance.now() - t0
      pm2Runs.push({ copiedMs: round(copiedMs, 1), reloadReturnedMs: round(reloadMs, 1), servedMs: round(totalMs, 1), pollStale: served.stale, pollFailed: served.failed })
      log(`C pm2 ship ${i + 1}: every worker serves it after ${fmtMs(totalMs)}`)
      removeDatabase(ready)
      await sleep(1500)
    }
    const res = await load.stop()
    out.pm2 = { runs: pm2Runs, servedMs: summary(pm2Runs.map((r) => r.servedMs)), failures: failuresOf(res) }
  } finally {
    await load.stop().catch(() => {})
    await pm2Kill()
  }

  // hotswap: the same app, file and load; `hotswap cp` ships it.
  log('C: hotswap serve, the same ships with `hotswap cp`')
  const served = await startServe({ db: live, workers: WORKERS, dir })
  const hsRuns = []
  try {
    load = startLoad({ ...CONFIG.lightLoad, port: served.port, duration: 0, skus: SKUS, check: true })
    await sleep(1000)
    for (let i = 0; i < CONFIG.pm2Ships; i++) {
      gen++
      const ready = join(dir, `ship-${gen}.sqlite3`)
      deriveDatabase(base, ready, gen)
      const t0 = performance.now()
      const cp = await runCli(['cp', ready, live, '--socket', served.socket])
      if (cp.code !== 0) throw new Error(`hotswap cp failed (${cp.code}): ${cp.stderr}`)
      const cpMs = performance.now() - t0
      const polled = await pollUntilServed(served.port, String(gen), { workers: WORKERS })
      const totalMs = performance.now() - t0
      // The server's share: from the start of the copy (cp sends the path) to every worker resumed.
      const complete = served.logs.filter((l) => /^swap of .* complete in/.test(l.message ?? '')).pop()
      const serverMs = complete === undefined ? null : Number(/complete in ([\d.]+) ms/.exec(complete.message)[1])
      hsRuns.push({ cpMs: round(cpMs, 1), servedMs: round(totalMs, 1), serverMs, pauseMs: pauseLines(served).pop()?.pauseMs ?? null, pollStale: polled.stale, pollFailed: polled.failed })
      log(`C hotswap ship ${i + 1}: every worker serves it after ${fmtMs(totalMs)}`)
      removeDatabase(ready)
      await sleep(500)
    }
    const res = await load.stop()
    out.hotswap = { runs: hsRuns, servedMs: summary(hsRuns.map((r) => r.servedMs)), failures: failuresOf(res) }
  } finally {
    await load.stop().catch(() => {})
    await served.stop()
  }
  out.speedup = round(out.pm2.servedMs.p50 / out.hotswap.servedMs.p50, 1)
  out.speedupServer = round(out.pm2.servedMs.p50 / median(hsRuns.map((r) => r.serverMs)), 0)
  out.speedupPause = round(out.pm2.servedMs.p50 / median(hsRuns.map((r) => r.pauseMs)), 0)
  return out
}

// ---------------------------------------------------------------------------------------------
// report

function evaluate () {
  const { a, b, c } = results.sections
  if (a?.gate) {
    target('1 gate req/s vs plain cluster', `${(a.gate.ratio * 100).toFixed(1)}%`, '≥ 97%', a.gate.ratio >= 0.97,
      `both at once ${(a.gate.togetherRatio * 100).toFixed(1)}%, CPU/request ${(a.gate.cpuRatio * 100).toFixed(1)}%`)
  }
  if (a?.pause) {
    const p = a.pause.load.pauseMs
    target('2 pause window p50 (under load)', fmtMs(p.p50), '≤ 2 ms', p.p50 <= 2, `floor ${fmtMs(a.floor.load.windowMs.p50)}`)
    target('2 pause window p99 (under load)', fmtMs(p.p99), '≤ 20 ms', p.p99 <= 20, `floor ${fmtMs(a.floor.load.windowMs.p99)}`)
    target('2 pause window p50 (idle)', fmtMs(a.pause.idle.pauseMs.p50), '≤ 2 ms', a.pause.idle.pauseMs.p50 <= 2, `floor ${fmtMs(a.floor.idle.windowMs.p50)}`)
  }
  if (b?.sizes?.length > 1) {
    const first = b.sizes[0]
    const last = b.sizes[b.sizes.length - 1]
    const ratio = last.pauseMs.p50 / first.pauseMs.p50
    target(`3 pause(${fmtBytes(last.bytes)}) / pause(${fmtBytes(first.bytes)})`, ratio.toFixed(2), '≤ 1.5', ratio <= 1.5)
  }
  const failed = [a?.pause?.load, ...(b?.sizes ?? [])].filter(Boolean)
    .reduce((n, x) => n + x.failures.failed + x.failures.timeouts + (x.probe?.failed ?? 0), 0)
  const torn = [a?.pause?.load, ...(b?.sizes ?? [])].filter(Boolean)
    .reduce((n, x) => n + (x.failures.torn ?? 0) + (x.failures.bad ?? 0) + (x.probe?.stale ?? 0), a?.pause?.idle?.probe?.stale ?? 0)
  if (a?.pause) {
    target('4 failed requests during swaps', String(failed), '0', failed === 0)
    target('4 torn / stale reads during swaps', String(torn), '0', torn === 0)
  }
  for (const s of b?.sizes ?? []) {
    if (!s.transfer) continue
    const t = s.transfer
    const best = (k) => t.bounds?.[k] === undefined ? '' : `; estimated best for a Node CLI ${t.bounds[k].toFixed(2)}×`
    target(`5 push ${fmtBytes(s.bytes)} vs copy + integrity_check`, `${t.pushRatio.toFixed(2)}×`, '≤ 1.2×', t.pushRatio <= 1.2, `cp FILE LIVE${best('pushRatio')}`)
    if (t.pushStdin) target(`5 push ${fmtBytes(s.bytes)} streamed vs copy + integrity_check`, `${t.pushStdinRatio.toFixed(2)}×`, '≤ 1.2×', t.pushStdinRatio <= 1.2, `cp - LIVE < FILE${best('pushStdinRatio')}`)
    if (t.pullFile) target(`5 pull ${fmtBytes(s.bytes)} to a file vs VACUUM INTO alone`, `${t.pullFileRatio.toFixed(2)}×`, '≥ 0.8×', t.pullFileRatio >= 0.8, `cp LIVE FILE${best('pullFileRatio')}`)
    target(`5 pull ${fmtBytes(s.bytes)} to stdout vs VACUUM INTO alone`, `${t.pullRatio.toFixed(2)}×`, '≥ 0.8×', t.pullRatio >= 0.8, `cp LIVE - > FILE${best('pullRatio')}`)
    const rss = Math.max(t.push.rssMaxMB, t.pushStdin?.rssMaxMB ?? 0, t.pull.rssMaxMB)
    target(`5 primary RSS streaming ${fmtBytes(s.bytes)}`, `${rss} MB`, '≤ 150 MB', rss <= 150)
  }
  evaluateG(results.sections.g, target)
  evaluateF(results.sections.f, target)
  evaluateM(results.sections.m, target)
  evaluateO(results.sections.o, target)
  evaluateL(results.sections.l, target)
  if (c?.speedup !== undefined) {
    const nodeStart = b?.nodeStartMs
    target('6 pm2 reload time / hotswap cp time', `${c.speedup}×`, '≥ 100×', c.speedup >= 100, `pm2 ${fmtMs(c.pm2.servedMs.p50)} vs hotswap ${fmtMs(c.hotswap.servedMs.p50)}` +
      (nodeStart ? `; starting node alone (${fmtMs(nodeStart)}) allows at most ${round(c.pm2.servedMs.p50 / nodeStart, 1)}×; server side ${c.speedupServer}×` : ''))
    target('6 failed requests: hotswap cp', String(c.hotswap.failures.failed + c.hotswap.failures.timeouts), '0', c.hotswap.failures.failed + c.hotswap.failures.timeouts === 0,
      `pm2: ${c.pm2.failures.failed + c.pm2.failures.timeouts}`)
  }
}

function report () {
  const { a, b, c } = results.sections
  const rows = [['measure', 'hotswap', 'floor / baseline', 'note']]
  if (a?.gate) {
    rows.push(['1 req/s (4 workers, 32 conns), alternating', String(a.gate.hotswap.rps), `plain cluster ${a.gate.plain.rps}`, `${(a.gate.ratio * 100).toFixed(1)}% (median of ${CONFIG.gate.rounds} rounds)`])
    rows.push(['1 req/s, both loaded at once', String(median(a.gate.together.map((x) => x.hotswap))), `plain cluster ${median(a.gate.together.map((x) => x.plain))}`, `${(a.gate.togetherRatio * 100).toFixed(1)}% (median ratio of ${a.gate.together.length} rounds)`])
    rows.push(['1 CPU per request (primary + workers)', `${a.gate.hotswap.cpuUsPerReq} µs`, `plain cluster ${a.gate.plain.cpuUsPerReq} µs`, `plain/hotswap ${(a.gate.cpuRatio * 100).toFixed(1)}%`])
    rows.push(['1 latency p99', `${a.gate.hotswap.p99} ms`, `plain cluster ${a.gate.plain.p99} ms`, ''])
  }
  if (a?.pause) {
    for (const [name, p, f] of [['idle', a.pause.idle, a.floor.idle], ['under load', a.pause.load, a.floor.load]]) {
      rows.push([`2 pause window ${name} p50 / p99`, `${fmtMs(p.pauseMs.p50)} / ${fmtMs(p.pauseMs.p99)}`,
        `${fmtMs(f.windowMs.p50)} / ${fmtMs(f.windowMs.p99)}`, `${p.swaps} swaps; floor = close, rename, reopen on the plain cluster`])
      rows.push([`2   phases ${name} p50: pause / install / resume`, `${fmtMs(p.drainMs.p50)} drain, ${fmtMs(p.pauseMs.p50 - p.installMs.p50 - p.resumeMs.p50)} / ${fmtMs(p.installMs.p50)} / ${fmtMs(p.resumeMs.p50)}`,
        `IPC ${fmtMs(f.ipcMs.p50)}, close ${fmtMs(f.closeMs.p50)}, reopen+query ${fmtMs(f.reopenMs.p50)}, rename+fsync ${fmtMs(f.renameFsyncMs.p50)}`, ''])
    }
    const steps = a.pause.idle.installSteps
    rows.push(['2   install steps idle p50', Object.entries(steps).map(([k, v]) => `${k} ${fmtMs(v.p50)}`).join(', '), '', ''])
    const l = a.pause.load
    rows.push(['4 during swaps under load', `${l.failures.failed} failed, ${l.failures.timeouts} timeouts, ${l.failures.torn} torn, ${l.probe.stale} stale`,
      '', `${l.failures.requests} requests, ${l.rps} req/s, max latency ${l.latency.max} ms`])
  }
  for (const s of b?.sizes ?? []) {
    rows.push([`3 pause ${fmtBytes(s.bytes)} p50 / p99 (light load)`, `${fmtMs(s.pauseMs.p50)} / ${fmtMs(s.pauseMs.p99)}`,
      `rename+fsync ${fmtMs(s.renameFloor.withLinkMs)} (no link: ${fmtMs(s.renameFloor.noLinkMs)})`,
      `${s.swaps} swaps; install ${fmtMs(s.installMs.p50)}; ${s.failures.failed} failed, ${s.failures.torn} torn, ${s.probe.stale} stale`])
  }
  if (b?.sizes?.length > 1) {
    const r = b.sizes[b.sizes.length - 1].pauseMs.p50 / b.sizes[0].pauseMs.p50
    rows.push(['3 pause ratio largest / 1 MB', r.toFixed(2), '', 'target ≤ 1.5'])
  }
  for (const s of b?.sizes ?? []) {
    if (!s.transfer) continue
    const t = s.transfer
    const floor = `copy+fsync ${fmtMs(t.pushFloor.copyFsyncMs)} + integrity ${fmtMs(t.pushFloor.integrityMs)} = ${fmtMs(t.pushFloor.ms)}`
    rows.push([`5 push ${fmtBytes(s.bytes)} (cp FILE LIVE: path, server copies)`, `${fmtMs(t.push.ms)} (${t.push.mbps} MB/s)`, floor,
      `${t.pushRatio.toFixed(2)}× floor${t.push.beyondCopyAndChecksMs === undefined ? '' : `; ${fmtMs(t.push.beyondCopyAndChecksMs)} beyond its own copy and checks`}`])
    if (t.pushStdin) rows.push([`5 push ${fmtBytes(s.bytes)} (cp - LIVE < FILE: streamed)`, `${fmtMs(t.pushStdin.ms)} (${t.pushStdin.mbps} MB/s)`, floor, `${t.pushStdinRatio.toFixed(2)}× floor`])
    if (t.pullFile) rows.push([`5 pull ${fmtBytes(s.bytes)} (cp LIVE FILE: written in place)`, fmtMs(t.pullFile.ms), `VACUUM INTO ${fmtMs(t.pullFloor.vacuumIntoMs)}`, `${t.pullFileRatio.toFixed(2)}× floor throughput`])
    rows.push([`5 pull ${fmtBytes(s.bytes)} (cp LIVE - > FILE: streamed)`, `${fmtMs(t.pull.ms)} (${t.pull.mbps} MB/s)`,
      `VACUUM INTO ${fmtMs(t.pullFloor.vacuumIntoMs)}`, `${t.pullRatio.toFixed(2)}× floor throughput`])
    if (t.socketFloorMs) rows.push([`5 socket floor ${fmtBytes(s.bytes)}`, '', `${fmtMs(t.socketFloorMs)} (${round(s.bytes / MB / (t.socketFloorMs / 1000), 0)} MB/s)`, 'Node to Node over a Unix socket into a file'])
    rows.push([`5 primary RSS push / streamed push / streamed pull ${fmtBytes(s.bytes)}`, `${t.push.rssMaxMB} / ${t.pushStdin?.rssMaxMB ?? '-'} / ${t.pull.rssMaxMB} MB`, `before ${t.push.rssBeforeMB} MB`, ''])
  }
  if (b?.cliStartMs) rows.push(['5 CLI start-up (hotswap version)', fmtMs(b.cliStartMs), `node -e 0: ${fmtMs(b.nodeStartMs)}`, 'oclif commands'])
  if (b?.cpStartMs) rows.push(['5 CLI start-up (hotswap cp, no server)', fmtMs(b.cpStartMs), `node -e 0: ${fmtMs(b.nodeStartMs)}`, 'included in every cp figure'])
  if (c?.pm2) {
    rows.push(['6 ship a new db: file ready → all serve', fmtMs(c.hotswap.servedMs.p50), `pm2 copy+reload ${fmtMs(c.pm2.servedMs.p50)}`, `${c.speedup}× faster; server side alone ${c.speedupServer}×, pause alone ${c.speedupPause}×`])
    rows.push(['6 failed requests while shipping', `${c.hotswap.failures.failed + c.hotswap.failures.timeouts} (${c.hotswap.failures.torn} torn)`,
      `pm2 ${c.pm2.failures.failed + c.pm2.failures.timeouts} (${c.pm2.failures.torn} torn)`, `${CONFIG.pm2Ships} ships each, light load`])
  }
  rows.push(...rowsG(results.sections.g))
  rows.push(...rowsF(results.sections.f))
  rows.push(...rowsM(results.sections.m))
  rows.push(...rowsO(results.sections.o))
  rows.push(...rowsL(results.sections.l))
  for (const [name, sec] of Object.entries(results.sections)) if (sec?.error) rows.push([`section ${name} FAILED`, sec.error.split('\n')[0], '', ''])

  const targets = [['target', 'measured', 'goal', 'met', 'note'],
    ...results.targets.map((t) => [t.name, t.value, t.goal, t.met ? 'yes' : 'NO', t.note])]
  return `${table(rows)}\n\n${table(targets)}\n`
}

function writeResults (text) {
  if (ONLY !== undefined) {
    const file = join(BENCH, 'tmp', `partial-${MODE}-${ONLY.join('')}.json`)
    fs.mkdirSync(dirname(file), { recursive: true })
    fs.writeFileSync(file, JSON.stringify({ ...results, table: text }, null, 2) + '\n')
    return [file]
  }
  const dir = join(BENCH, 'results')
  fs.mkdirSync(dir, { recursive: true })
  const json = JSON.stringify({ ...results, table: text }, null, 2) + '\n'
  const day = results.date.slice(0, 10)
  fs.writeFileSync(join(dir, `${day}-${MODE}.json`), json)
  fs.writeFileSync(join(dir, `latest-${MODE}.json`), json)
  return [join('bench', 'results', `${day}-${MODE}.json`), join('bench', 'results', `latest-${MODE}.json`)]
}

// ---------------------------------------------------------------------------------------------

let cleaning = null
async function cleanup () {
  cleaning ??= (async () => {
    await pm2Kill().catch(() => {})
    await stopFleet().catch(() => {})
    await stopAll()
    fs.rmSync(RUN_DIR, { recursive: true, force: true })
  })()
  await cleaning
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping everything this bench started`)
    void cleanup().then(() => process.exit(130))
  })
}

const cpu = cpuMonitor()

async function main () {
  fs.mkdirSync(RUN_DIR, { recursive: true })
  log(`mode ${MODE}; ${results.machine.nproc} cores, node ${results.machine.node}, SQLite ${results.machine.sqlite}`)
  const g = async () => await sectionG({ runDir: RUN_DIR, quick: QUICK, log, load: CONFIG.load, lightLoad: CONFIG.lightLoad })
  const f = async () => await sectionF({ quick: QUICK, log })
  const m = async () => await sectionM({ runDir: RUN_DIR, quick: QUICK, log, load: CONFIG.load })
  const o = async () => await sectionO({ runDir: RUN_DIR, quick: QUICK, log })
  const l = async () => await sectionL({ runDir: RUN_DIR, quick: QUICK, log })
  for (const [name, fn] of [['a', sectionA], ['b', sectionB], ['c', sectionC], ['g', g], ['f', f], ['m', m], ['o', o], ['l', l]]) {
    if (ONLY !== undefined && !ONLY.includes(name)) continue
    const t = performance.now()
    try {
      results.sections[name] = await fn()
    } catch (err) {
      log(`section ${name} failed: ${err.stack ?? err}`)
      results.sections[name] = { error: String(err.message ?? err) }
      await stopAll()
    }
    results.sections[name].foreignCpu = cpu.since(t)
    log(`section ${name}: other processes used ${results.sections[name].foreignCpu.mean} cores on average`)
  }
  cpu.stop()
  evaluate()
  // Other processes on the machine skew every figure here; say so when the bench was not alone.
  const foreign = Object.values(results.sections).map((x) => x.foreignCpu?.mean ?? 0)
  results.machine.foreignCpuMax = Math.max(...foreign)
  results.machine.busy = results.machine.foreignCpuMax > 0.25
  const warning = results.machine.busy
    ? `WARNING: other processes used up to ${results.machine.foreignCpuMax} of ${results.machine.nproc} cores on average ` +
      'during a section; every figure is skewed. Rerun on an idle machine.\n\n'
    : `Other processes used at most ${results.machine.foreignCpuMax} cores on average during any section.\n\n`
  const text = warning + report()
  process.stdout.write(`\nhotswap bench (${MODE}) — ${results.machine.nproc} cores, ${results.machine.cpu}, ` +
    `${results.machine.disk?.device ?? '?'} ${results.machine.disk?.type ?? ''}, node ${results.machine.node}\n\n${text}`)
  const files = writeResults(text)
  log(`wrote ${files.join(', ')} in ${((performance.now() - T0) / 1000).toFixed(0)} s`)
}

try {
  await main()
} finally {
  await cleanup()
}
