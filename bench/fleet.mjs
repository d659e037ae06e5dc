// Section F of the bench (issue 14): `hotswap fleet cp` to 3 hosts on this machine, each its own
// sshd on 127.0.0.2-4 with its own directory and `hotswap serve` (2 workers), reached with the
// system ssh through a control master: the test harness's hosts (test/support/fleet.ts, from
// its build under dist/). run.mjs calls it with the other sections and prints its rows.
//
//   F0 ssh round trip per host: a line echoed by `cat` on an open session through the master
//      (the path a PAUSED and a go take), 30 times, 50 ms apart
//   F1 single-host pause per host: `hotswap cp FILE LIVE` run on the host, its "pause window"
//   F1c the same, the three hosts' swaps at one moment (each file staged, then `commit ID` on each
//      control socket, sent in one tick): the single-host pause when the other hosts share the
//      cores as in a fleet swap
//   F2 fleet swaps (≥ 20, 1 MB): per swap each host's own record of its commit (serve's "pause
//      window" line: pauseMs, goAt, resumedAt, its clock to the µs; the 3 hosts share one
//      clock here): skew = max − min of resumedAt, go spread = max − min of goAt; and the
//      coordinator's summary line, which must agree with the hosts' records
//   F3 stage time (100 MB in full mode, 20 MB quick) for 1 host and for 3 hosts at once, from the
//      summary ("staged in X ms (the slowest host)"), against the sum of the single-host ones
//
// Idle (no HTTP load): the figure is the fleet machinery's own. Every process is stopped by pid
// (the harness's stop(): serves, control masters, sshds), its temp dir removed.
import { existsSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, sleep } from './lib/proc.mjs'
import { fmtBytes, fmtMs, percentile, round, summary } from './lib/stats.mjs'

const MB = 1024 * 1024
const LIVE = 'db/live.sqlite3'
const SUMMARY = /^fleet cp to .*: (\d+) hosts switched to .*; staged in (\d+) ms \(the slowest host\); pause (.*); skew between the first and the last resume ([\d.]+) ms/m

let stopHarness = async () => {}

/** Stops what the section started (run.mjs's clean-up, on a signal too). */
export async function stopFleet () {
  await stopHarness()
}

function stats (values) {
  return { ...summary(values), p95: round(percentile(values, 95)) }
}

const pauseLines = (serve) => serve.logs().filter((l) => typeof l.message === 'string' && l.message.startsWith('pause window'))

/**
 * How long a line takes to come back from `cat` on an open ssh session to the host, sent 50 ms
 * apart: every process on the way is asleep when it leaves, as for a PAUSED or a go (lines sent
 * back to back find them awake, and come back in about 0.1 ms).
 */
async function roundTrip (fleet, host, n) {
  const child = spawn('ssh', ['-F', fleet.config, host.name, '--', 'cat'], { stdio: ['pipe', 'pipe', 'ignore'] })
  let buf = ''
  let wake = () => {}
  child.stdout.setEncoding('utf8').on('data', (d) => { buf += d; wake() })
  const times = []
  try {
    for (let i = 0; i <= n; i++) {
      const t0 = performance.now()
      child.stdin.write(`${i}\n`)
      while (!buf.includes(`${i}\n`)) await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 5000) })
      if (i > 0) times.push(performance.now() - t0) // the first opens the session
      buf = ''
      await sleep(50)
    }
  } finally {
    child.stdin.end()
    child.kill('SIGTERM')
  }
  return stats(times)
}

export async function sectionF ({ quick, log }) {
  if (!existsSync('/usr/sbin/sshd')) return { skipped: 'no /usr/sbin/sshd (openssh-server)' }
  const S = await import(join(ROOT, 'dist', 'test', 'support', 'index.js'))
  const afters = []
  stopHarness = async () => { for (const fn of afters.splice(0).reverse()) await fn() }
  const ctx = { after: (fn) => afters.push(fn) }
  try {
    return await measure(S, ctx, { quick, log })
  } finally {
    await stopHarness()
  }
}

async function measure (S, ctx, { quick, log }) {
  const fleet = await S.startHosts(ctx, 3)
  for (const h of fleet.hosts) S.seed(join(h.dir, LIVE), { label: 'v0' })
  const serves = await Promise.all(fleet.hosts.map((h) => fleet.serveOn(h, { workers: 2 })))
  const cwd = S.testDir(ctx)
  writeFileSync(join(cwd, 'hotswap.config.json'), JSON.stringify({
    fleet: { hosts: fleet.hosts.map((h) => ({ name: h.name, remote: `cd ${S.sh(h.dir)} && ${S.sh(process.execPath)} ${S.sh(S.BIN)}` })), sshConfig: fleet.config, hold: 10_000 },
  }))
  const out = { hosts: fleet.hosts.length, workers: 2, idle: true }
  let n = 0
  const next = (rows) => S.pushable(cwd, `v${++n}`, rows)
  const fleetCp = async (file, hosts) => {
    const r = await S.cli(['fleet', 'cp', file, LIVE, ...(hosts === undefined ? [] : ['--hosts', hosts.join(',')])], { cwd, timeoutMs: 120_000 })
    if (r.code !== 0) throw new Error(`fleet cp failed (${r.code}): ${r.stderr}`)
    const m = SUMMARY.exec(r.stderr)
    if (m === null) throw new Error(`no summary line: ${r.stderr}`)
    return { stagedMs: Number(m[2]), skewMs: Number(m[4]) }
  }

  log('F0: ssh round trips')
  out.rtt = {}
  for (const h of fleet.hosts) out.rtt[h.name] = await roundTrip(fleet, h, 30)

  log('F1: single-host pauses')
  const reps = quick ? 10 : 20
  const single = Object.fromEntries(fleet.hosts.map((h) => [h.name, []]))
  const singlePausing = Object.fromEntries(fleet.hosts.map((h) => [h.name, []]))
  for (let i = 0; i < reps; i++) {
    for (const [j, h] of fleet.hosts.entries()) {
      const v = next()
      const before = pauseLines(serves[j]).length
      const r = await fleet.hotswap(h, ['cp', v.path, LIVE])
      if (r.code !== 0) throw new Error(`cp on ${h.name}: ${r.stderr}`)
      await S.waitUntil('its pause window line', () => pauseLines(serves[j]).length > before, 10_000)
      const l = pauseLines(serves[j]).at(-1)
      single[h.name].push(l.pauseMs)
      singlePausing[h.name].push(l.pausedAt - (l.resumedAt - l.pauseMs))
    }
  }
  out.singlePauseMs = Object.fromEntries(Object.entries(single).map(([k, v]) => [k, stats(v)]))
  out.singlePausingMs = Object.fromEntries(Object.entries(singlePausing).map(([k, v]) => [k, stats(v)]))

  // The same single-host swaps, the three hosts' at one moment: each host's file staged first,
  // then a plain `commit ID` (no hold) on each control socket, the three written in one tick (no
  // ssh, no CLI start-up, no copy or check of the file between them): each host's single-host
  // pause on this machine's 2 cores when the other two hosts pause with it, as in a fleet swap.
  // Hosts of their own do not share cores: there the two single-host figures are one.
  log('F1c: single-host pauses, the three hosts at once')
  const { runRemote } = await import(join(ROOT, 'dist', 'src', 'client', 'connection.js'))
  const together = Object.fromEntries(fleet.hosts.map((h) => [h.name, []]))
  const togetherSpread = []
  for (let i = 0; i < reps; i++) {
    const stages = await Promise.all(fleet.hosts.map(async (h) => {
      const r = await fleet.hotswap(h, ['cp', next().path, LIVE, '--stage'])
      if (r.code !== 0) throw new Error(`stage on ${h.name}: ${r.stderr}`)
      return r.stdout.toString().trim()
    }))
    const before = serves.map((s) => pauseLines(s).length)
    const replies = await Promise.all(fleet.hosts.map(async (h, j) => await runRemote({
      socketPath: serves[j].socket, args: ['commit', stages[j]], tty: false, onStdout: () => {}, onStderr: () => {},
    })))
    for (const [j, r] of replies.entries()) if (r.exit !== 0) throw new Error(`commit on ${fleet.hosts[j].name}: ${r.code} ${r.error}`)
    await S.waitUntil('their pause window lines', () => serves.every((s, j) => pauseLines(s).length > before[j]), 10_000)
    const lines = serves.map((s, j) => pauseLines(s).slice(before[j]).at(-1))
    for (const [j, h] of fleet.hosts.entries()) together[h.name].push(lines[j].pauseMs)
    const began = lines.map((l) => l.resumedAt - l.pauseMs)
    togetherSpread.push(Math.max(...began) - Math.min(...began))
  }
  out.singleTogetherPauseMs = Object.fromEntries(Object.entries(together).map(([k, v]) => [k, stats(v)]))
  out.singleTogetherStartSpreadMs = stats(togetherSpread)

  const swaps = quick ? 20 : 30
  log(`F2: ${swaps} fleet swaps`)
  const skew = []
  const goSpread = []
  const startSpread = []
  const parts = Object.fromEntries(fleet.hosts.map((h) => [h.name, { pausing: [], quiesce: [], waitForLast: [], messages: [], install: [] }]))
  const reported = []
  const pause = Object.fromEntries(fleet.hosts.map((h) => [h.name, []]))
  const goToResume = Object.fromEntries(fleet.hosts.map((h) => [h.name, []]))
  for (let i = 0; i < swaps; i++) {
    const before = serves.map((s) => pauseLines(s).length)
    const r = await fleetCp(next().path)
    const lines = serves.map((s, j) => pauseLines(s).slice(before[j]).at(-1))
    if (lines.some((l) => l?.resumedAt === undefined)) throw new Error('a host logged no resumedAt for the swap')
    const resumed = lines.map((l) => l.resumedAt)
    const go = lines.map((l) => l.goAt)
    skew.push(Math.max(...resumed) - Math.min(...resumed))
    goSpread.push(Math.max(...go) - Math.min(...go))
    // When each host's pause began (its resume less its pause): the wait for the slowest host
    // to pause is part of every other host's pause.
    const began = lines.map((l) => l.resumedAt - l.pauseMs)
    startSpread.push(Math.max(...began) - Math.min(...began))
    // Each host's pause in its parts, from the hosts' own records (one clock here): its workers
    // pausing, its quiesce, the wait for the last host's PAUSED, that PAUSED's way up and the go's
    // way down, its install and resume.
    const lastHeld = Math.max(...lines.map((l) => l.heldAt))
    for (const [j, h] of fleet.hosts.entries()) {
      const l = lines[j]
      const p = parts[h.name]
      p.pausing.push(l.pausedAt - began[j])
      p.quiesce.push(l.heldAt - l.pausedAt)
      p.waitForLast.push(lastHeld - l.heldAt)
      p.messages.push(l.goAt - lastHeld)
      p.install.push(l.resumedAt - l.goAt)
    }
    reported.push(r.skewMs)
    for (const [j, h] of fleet.hosts.entries()) {
      pause[h.name].push(lines[j].pauseMs)
      goToResume[h.name].push(lines[j].resumedAt - lines[j].goAt)
    }
  }
  out.swaps = swaps
  out.skewMs = stats(skew)
  out.goSpreadMs = stats(goSpread)
  out.startSpreadMs = stats(startSpread)
  out.partsMs = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, xs]) => [n, stats(xs)]))]))
  out.reportedSkewMs = stats(reported)
  out.pauseMs = Object.fromEntries(Object.entries(pause).map(([k, v]) => [k, stats(v)]))
  out.goToResumeMs = Object.fromEntries(Object.entries(goToResume).map(([k, v]) => [k, stats(v)]))

  // A fleet of one host: no other host to wait for, no other host's processes on these cores.
  // Its pause against its single-host pause is the protocol's own cost (the quiesce task, the
  // PAUSED line up and the go down through ssh and the host's CLI).
  log(`F2b: ${swaps} fleet swaps to ${fleet.hosts[0].name} alone`)
  const alone = { pause: [], quiesce: [], messages: [] }
  for (let i = 0; i < swaps; i++) {
    const before = pauseLines(serves[0]).length
    await fleetCp(next().path, [fleet.hosts[0].name])
    const l = pauseLines(serves[0]).slice(before).at(-1)
    alone.pause.push(l.pauseMs)
    alone.quiesce.push(l.heldAt - l.pausedAt)
    alone.messages.push(l.goAt - l.heldAt)
  }
  out.alone = { host: fleet.hosts[0].name, ...Object.fromEntries(Object.entries(alone).map(([k, v]) => [`${k}Ms`, stats(v)])) }

  const size = quick ? 20 * MB : 100 * MB
  log(`F3: stage time of ${fmtBytes(size)}, 1 host and 3 hosts`)
  const big = join(cwd, 'big.sqlite3')
  S.bigDb(big, 'big', size / MB)
  out.stage = { bytes: size, single: {}, all: [] }
  const stageReps = quick ? 2 : 3
  for (let i = 0; i < stageReps; i++) {
    for (const h of fleet.hosts) (out.stage.single[h.name] ??= []).push((await fleetCp(big, [h.name])).stagedMs)
    out.stage.all.push((await fleetCp(big)).stagedMs)
  }
  const med = (v) => percentile(v, 50)
  out.stage.singleMs = Object.fromEntries(Object.entries(out.stage.single).map(([k, v]) => [k, med(v)]))
  out.stage.slowestSingleMs = Math.max(...Object.values(out.stage.singleMs))
  out.stage.sumSingleMs = Object.values(out.stage.singleMs).reduce((a, b) => a + b, 0)
  out.stage.allMs = med(out.stage.all)
  return out
}

export function evaluateF (f, target) {
  if (f?.skewMs === undefined) return
  target('14 fleet skew first → last resume, p50 (3 hosts)', fmtMs(f.skewMs.p50), '≤ 5 ms', f.skewMs.p50 <= 5,
    `p95 ${fmtMs(f.skewMs.p95)}; ${f.swaps} swaps; the hosts' own resume times (one clock here)`)
  for (const [name, p] of Object.entries(f.pauseMs)) {
    const bound = f.singlePauseMs[name].p50 + 2 * f.rtt[name].p50
    target(`14 fleet pause p50 on ${name} ≤ single + 2 round trips`, fmtMs(p.p50), `≤ ${fmtMs(bound)}`, p.p50 <= bound,
      `single ${fmtMs(f.singlePauseMs[name].p50)}, round trip ${fmtMs(f.rtt[name].p50)}`)
  }
  if (f.singleTogetherPauseMs !== undefined) {
    for (const [name, p] of Object.entries(f.pauseMs)) {
      const bound = f.singleTogetherPauseMs[name].p50 + 2 * f.rtt[name].p50
      target(`14 fleet pause p50 on ${name} ≤ single (3 hosts at once) + 2 round trips`, fmtMs(p.p50), `≤ ${fmtMs(bound)}`, p.p50 <= bound,
        `single with the other two hosts swapping at the same moment ${fmtMs(f.singleTogetherPauseMs[name].p50)} (their starts ${fmtMs(f.singleTogetherStartSpreadMs.p50)} apart), round trip ${fmtMs(f.rtt[name].p50)}`)
    }
  }
  if (f.alone !== undefined) {
    const a = f.alone
    const bound = f.singlePauseMs[a.host].p50 + 2 * f.rtt[a.host].p50
    target(`14 fleet of one host (${a.host}): pause p50 ≤ single + 2 round trips`, fmtMs(a.pauseMs.p50), `≤ ${fmtMs(bound)}`, a.pauseMs.p50 <= bound,
      `not the issue's target (that is 3 hosts, above): the protocol's own cost, with no other host to wait for; quiesce ${fmtMs(a.quiesceMs.p50)}, PAUSED up + go down ${fmtMs(a.messagesMs.p50)}`)
  }
  const s = f.stage
  target(`14 stage ${fmtBytes(s.bytes)}: 3 hosts / the slowest single host`, `${(s.allMs / s.slowestSingleMs).toFixed(2)}×`, '≈ 1× (the sum: 3×)', s.allMs < s.sumSingleMs,
    `${fmtMs(s.allMs)} vs slowest ${fmtMs(s.slowestSingleMs)}, sum ${fmtMs(s.sumSingleMs)}`)
}

export function rowsF (f) {
  if (f?.skipped !== undefined) return [['14 fleet', 'skipped', '', f.skipped]]
  if (f?.skewMs === undefined) return []
  const hosts = Object.keys(f.pauseMs)
  const per = (fn) => hosts.map((h) => `${h} ${fn(h)}`).join(', ')
  return [
    ['14 fleet skew first → last resume p50 / p95', `${fmtMs(f.skewMs.p50)} / ${fmtMs(f.skewMs.p95)}`, `go arrival spread ${fmtMs(f.goSpreadMs.p50)} / ${fmtMs(f.goSpreadMs.p95)}`,
      `${f.swaps} swaps of 1 MB to ${f.hosts} hosts, idle; the hosts' resume times (the summary says p50 ${fmtMs(f.reportedSkewMs.p50)})`],
    ['14   go → resume per host p50', per((h) => fmtMs(f.goToResumeMs[h].p50)), '', 'links, renames, fsync dir, resume of 2 workers (the checkpoint ran before the hold)'],
    ['14 fleet pause per host p50', per((h) => fmtMs(f.pauseMs[h].p50)), `single-host ${per((h) => fmtMs(f.singlePauseMs[h].p50))}`, 'includes the wait for the other hosts to pause'],
    ...(f.singleTogetherPauseMs === undefined ? [] : [['14   single-host pause, the 3 hosts at once, p50', per((h) => fmtMs(f.singleTogetherPauseMs[h].p50)), `their starts ${fmtMs(f.singleTogetherStartSpreadMs.p50)} apart p50`,
      'a plain commit of a staged file on each host at the same moment, on these 2 cores (hosts of their own: the single-host figure)']]),
    ...(f.startSpreadMs === undefined ? [] : [['14   pause start spread first → last host p50 / p95', `${fmtMs(f.startSpreadMs.p50)} / ${fmtMs(f.startSpreadMs.p95)}`, '', 'the hosts\' own pause starts (one instant named in each host\'s clock)']]),
    ...(f.partsMs === undefined ? [] : hosts.map((h) => {
      const p = f.partsMs[h]
      return [`14   ${h}'s fleet pause in parts p50`, `${fmtMs(p.pausing.p50)} + ${fmtMs(p.quiesce.p50)} + ${fmtMs(p.waitForLast.p50)} + ${fmtMs(p.messages.p50)} + ${fmtMs(p.install.p50)}`,
        `single-host: pausing ${fmtMs(f.singlePausingMs[h].p50)}, the rest ${fmtMs(f.singlePauseMs[h].p50 - f.singlePausingMs[h].p50)}`,
        'pausing its workers + quiesce + waiting for the last host\'s PAUSED + that PAUSED up and the go down + install and resume']
    })),
    ...(f.alone === undefined ? [] : [[`14 fleet of one host (${f.alone.host}) pause p50`, fmtMs(f.alone.pauseMs.p50), `single-host ${fmtMs(f.singlePauseMs[f.alone.host].p50)}`,
      `quiesce ${fmtMs(f.alone.quiesceMs.p50)}, PAUSED up + go down ${fmtMs(f.alone.messagesMs.p50)} (round trip ${fmtMs(f.rtt[f.alone.host].p50)})`]]),
    ['14   ssh round trip per host p50', per((h) => fmtMs(f.rtt[h].p50)), '', 'a line echoed through the control master'],
    [`14 fleet stage ${fmtBytes(f.stage.bytes)}: 3 hosts / 1 host`, `${fmtMs(f.stage.allMs)}`, `1 host: ${per((h) => fmtMs(f.stage.singleMs[h]))}`,
      `sum of the single ones ${fmtMs(f.stage.sumSingleMs)}; push, integrity_check, vote`],
  ]
}
