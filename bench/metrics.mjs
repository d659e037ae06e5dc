// Section M of the bench (issue 15): what `serve --metrics` costs the app's requests when
// Prometheus scrapes it every second. run.mjs calls it with the other sections, and prints its
// rows and targets.
//
//   Two `hotswap serve` of the same prom-client app (metrics-app.mjs: default metrics and a
//   counter per response), 4 workers each, 1 MB databases: one without --metrics, one with
//   --metrics on 127.0.0.1 and GET /metrics every second while it is loaded.
//   M1 alternating rounds, the closed-loop load of section A against one server at a time, in
//      rotating order: req/s of each, their ratio per pair of rounds, the median of those
//   M2 both at once, the same load on each, the scraper on one: the scheduler shares the cores
//      between the two, so what else runs on the machine hits both alike
//   M3 idle, the server with --metrics: its CPU (primary and workers) over 5 s unscraped, then
//      over 5 s scraped 10 times a second: the CPU one scrape costs, a figure that other load
//      on the machine hardly moves (req/s on a shared 2-core machine swings by tens of %)
//   Each scrape is timed (request to last byte) and checked: 200, the app's counter present.
//   M1 and M2 also take each server's CPU per request.
import fs from 'node:fs'
import { join } from 'node:path'
import { treeCpuMs } from './lib/cpu.mjs'
import { createDatabase, SKUS } from './lib/db.mjs'
import { BENCH, freePort, get, sleep, startLoad, startServe } from './lib/proc.mjs'
import { fmtMs, median, round, summary } from './lib/stats.mjs'

const MB = 1024 * 1024
const WORKERS = 4

/** GET /metrics every `everyMs` until stopped; each scrape's time, size and whether it was good. */
function scraper (port, everyMs = 1000) {
  const scrapes = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now()
      let ok = false
      let bytes = 0
      try {
        const r = await get(port, '/metrics', 5000)
        ok = r.status === 200 && r.body.includes('bench_responses_total{status="200"}')
        bytes = r.body.length
      } catch { /* counted as failed */ }
      scrapes.push({ ms: performance.now() - t0, ok, bytes })
      const wait = everyMs - (performance.now() - t0)
      if (wait > 0 && !stopped) await sleep(wait)
    }
  })()
  return { stop: async () => { stopped = true; await loop; return scrapes } }
}

export async function sectionM ({ runDir, quick, log, load }) {
  const dir = join(runDir, 'm')
  fs.mkdirSync(dir, { recursive: true })
  const dbs = { off: join(dir, 'off.sqlite3'), on: join(dir, 'on.sqlite3') }
  createDatabase(dbs.off, { bytes: 1 * MB, gen: 1 })
  fs.copyFileSync(dbs.off, dbs.on)
  const metricsPort = await freePort()
  const app = join(BENCH, 'metrics-app.mjs')
  log(`M: starting two servers of ${WORKERS} workers, one with --metrics 127.0.0.1:${metricsPort}`)
  const off = await startServe({ db: dbs.off, workers: WORKERS, dir, app })
  const on = await startServe({ db: dbs.on, workers: WORKERS, dir, app, args: ['--metrics', `127.0.0.1:${metricsPort}`] })
  // Short rounds, many of them: what else runs on the machine changes from second to second, and
  // the two rounds of a pair should see the same of it.
  const rounds = quick ? 6 : 12
  const seconds = quick ? 2 : 5
  const loadCfg = { ...load, skus: SKUS, check: false }
  const out = { workers: WORKERS, rounds, seconds, scrapeEveryMs: 1000 }
  const scrapes = []
  const loaded = async (s, withScraper) => {
    const sc = withScraper ? scraper(metricsPort) : null
    const cpu0 = treeCpuMs(s.pid)
    const res = await startLoad({ ...loadCfg, port: s.port, duration: seconds }).result
    res.cpuUsPerReq = round((treeCpuMs(s.pid) - cpu0) * 1000 / res.total, 1)
    if (sc !== null) scrapes.push(...await sc.stop())
    return res
  }
  try {
    for (const s of [off, on]) await startLoad({ ...loadCfg, port: s.port, duration: quick ? 1 : 2 }).result
    const alternating = []
    for (let r = 0; r < rounds; r++) {
      const pair = {}
      for (const name of r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) {
        const res = await loaded(name === 'on' ? on : off, name === 'on')
        pair[name] = { rps: round(res.rps, 0), p99: res.latency.p99, cpuUsPerReq: res.cpuUsPerReq, failed: res.errors + res.non2xx }
      }
      pair.ratio = round(pair.on.rps / pair.off.rps, 4)
      pair.cpuRatio = round(pair.off.cpuUsPerReq / pair.on.cpuUsPerReq, 4)
      alternating.push(pair)
      log(`M1 round ${r + 1}: without ${pair.off.rps}, with --metrics scraped ${pair.on.rps} req/s (${(pair.ratio * 100).toFixed(1)}%)`)
    }
    const together = []
    for (let r = 0; r < rounds; r++) {
      const sc = scraper(metricsPort)
      const [a, b] = await Promise.all([off, on].map((s) => startLoad({ ...loadCfg, port: s.port, duration: seconds }).result))
      scrapes.push(...await sc.stop())
      together.push({ off: round(a.rps, 0), on: round(b.rps, 0), ratio: round(b.rps / a.rps, 4), failed: a.errors + a.non2xx + b.errors + b.non2xx })
      log(`M2 simultaneous round ${r + 1}: without ${round(a.rps, 0)}, with ${round(b.rps, 0)} req/s`)
    }
    out.alternating = {
      rounds: alternating,
      off: round(median(alternating.map((p) => p.off.rps)), 0),
      on: round(median(alternating.map((p) => p.on.rps)), 0),
      ratio: median(alternating.map((p) => p.ratio)),
      // CPU per request moves less with the machine's other load than req/s does: the ratio of
      // the medians (a pair's two rounds still see different neighbours).
      cpuOff: median(alternating.map((p) => p.off.cpuUsPerReq)),
      cpuOn: median(alternating.map((p) => p.on.cpuUsPerReq)),
    }
    out.alternating.cpuRatio = round(out.alternating.cpuOff / out.alternating.cpuOn, 4)
    log('M3: CPU of one scrape, idle')
    const idleCpu = async (ms, everyMs) => {
      const sc = everyMs === null ? null : scraper(metricsPort, everyMs)
      const cpu0 = treeCpuMs(on.pid)
      await sleep(ms)
      const cpu = treeCpuMs(on.pid) - cpu0
      const n = sc === null ? 0 : (await sc.stop()).length
      return { cpu, n }
    }
    const quiet = await idleCpu(5000, null)
    const scraped = await idleCpu(5000, 100)
    const cpuPerScrapeMs = round((scraped.cpu - quiet.cpu) / scraped.n, 2)
    // At one scrape a second, against a server that keeps both cores busy under load.
    out.idle = { quietCpuMs: round(quiet.cpu, 0), scrapedCpuMs: round(scraped.cpu, 0), scrapes: scraped.n, cpuPerScrapeMs, shareOfMachineAt1s: round(cpuPerScrapeMs / (1000 * 2), 5) }
    out.together = { rounds: together, ratio: median(together.map((p) => p.ratio)) }
    out.failed = alternating.reduce((n, p) => n + p.off.failed + p.on.failed, 0) + together.reduce((n, p) => n + p.failed, 0)
    out.scrapes = { count: scrapes.length, failed: scrapes.filter((s) => !s.ok).length, ms: summary(scrapes.map((s) => s.ms)), bytes: median(scrapes.map((s) => s.bytes)) }
  } finally {
    await off.stop()
    await on.stop()
  }
  return out
}

export function evaluateM (m, target) {
  if (m?.alternating === undefined) return
  target('15 req/s with --metrics scraped every 1 s / without', `${(m.alternating.ratio * 100).toFixed(1)}%`, '≥ 99%', m.alternating.ratio >= 0.99,
    `CPU/request ${(m.alternating.cpuRatio * 100).toFixed(1)}%; both at once ${(m.together.ratio * 100).toFixed(1)}%; one scrape ${m.idle.cpuPerScrapeMs} ms CPU (${(m.idle.shareOfMachineAt1s * 100).toFixed(2)}% of the 2 cores at 1/s)`)
  target('15 failed requests or scrapes (section M)', String(m.failed + m.scrapes.failed), '0', m.failed + m.scrapes.failed === 0)
}

export function rowsM (m) {
  if (m?.alternating === undefined) return []
  const a = m.alternating
  return [
    ['15 req/s without / with --metrics scraped 1/s', `${a.off} / ${a.on}`, `${(a.ratio * 100).toFixed(1)}%`, `median of ${m.rounds} alternating pairs of ${m.seconds} s, ${m.workers} workers each`],
    ['15   CPU per request without / with', `${a.cpuOff} / ${a.cpuOn} µs`, `${(a.cpuRatio * 100).toFixed(1)}%`, 'the server\'s whole tree (primary and workers)'],
    ['15   one scrape, idle', `${m.idle.cpuPerScrapeMs} ms CPU`, `${(m.idle.shareOfMachineAt1s * 100).toFixed(2)}% of 2 cores at 1/s`, `${m.idle.scrapes} scrapes in 5 s against 5 s unscraped, primary and ${m.workers} workers`],
    ['15   both servers loaded at once', `${(m.together.ratio * 100).toFixed(1)}%`, '', `the ratio of with to without, median of ${m.rounds} rounds`],
    ['15 a scrape under load p50 / p99', `${fmtMs(m.scrapes.ms.p50)} / ${fmtMs(m.scrapes.ms.p99)}`, `${round(m.scrapes.bytes / 1024, 1)} KiB`, `${m.scrapes.count} scrapes, ${m.scrapes.failed} failed; ${m.failed} failed requests`],
  ]
}
