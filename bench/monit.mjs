// Section M of the bench (issue 15): what `hotswap monit` costs at its default refresh (1 s).
// pm2's monit is known for taking a whole core (pm2 #2793); the target here is ≤ 3% of one.
//
//   M1 4 workers, a 1 MB database, no load. The primary's CPU over a window without monit, then
//      monit started on a real terminal (a tmux pane of a tmux server of the bench's own), a
//      warm-up, and over the same length of window: monit's own CPU (its pid: the pane's
//      command is exec'd) and the primary's (the `monit` command it answers once a second,
//      and the stats IPC round trip to every worker). From /proc/PID/stat (utime + stime).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { join } from 'node:path'
import { createDatabase } from './lib/db.mjs'
import { BIN, killPid, sleep, startServe } from './lib/proc.mjs'
import { round } from './lib/stats.mjs'

const MB = 1024 * 1024
const HZ = 100 // USER_HZ on Linux

function cpuTicks (pid) {
  const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

/** % of one core `pid` used over `ms` from now. */
async function cpuPercent (pids, ms) {
  const before = pids.map(cpuTicks)
  const t0 = performance.now()
  await sleep(ms)
  const seconds = (performance.now() - t0) / 1000
  return pids.map((pid, i) => round(((cpuTicks(pid) - before[i]) / HZ) / seconds * 100, 2))
}

export async function sectionM ({ runDir, quick, log }) {
  const dir = join(runDir, 'monit')
  fs.mkdirSync(dir, { recursive: true })
  const db = join(dir, 'live.sqlite3')
  createDatabase(db, { bytes: 1 * MB, gen: 1 })
  const windowMs = quick ? 10_000 : 30_000
  const served = await startServe({ db, workers: 4, dir })
  const tmuxServer = `hotswap-bench-${process.pid}`
  const tmux = (...args) => spawnSync('tmux', ['-L', tmuxServer, '-f', '/dev/null', ...args], { encoding: 'utf8' })
  let monitPid = 0
  try {
    await sleep(2000)
    const [primaryWithout] = await cpuPercent([served.pid], windowMs)
    log(`M1: primary without monit ${primaryWithout}% of a core`)
    const made = tmux('new-session', '-d', '-s', 'bench', '-x', '120', '-y', '40', `exec '${process.execPath}' '${BIN}' monit --socket '${served.socket}'`)
    if (made.status !== 0) throw new Error(`tmux (needed for a terminal): ${made.stderr || made.error?.message}`)
    monitPid = Number(tmux('list-panes', '-t', 'bench', '-F', '#{pane_pid}').stdout.trim())
    // Start-up (oclif, ink, the JIT) is not the steady state a person leaves running.
    await sleep(3000)
    const screen = tmux('capture-pane', '-p', '-t', 'bench').stdout
    if (!screen.includes(`primary pid ${served.pid}`)) throw new Error(`monit did not draw:\n${screen}`)
    const [monit, primaryWith] = await cpuPercent([monitPid, served.pid], windowMs)
    log(`M1: monit ${monit}% of a core; primary ${primaryWith}% with it`)
    return { workers: 4, intervalMs: 1000, windowMs, monitCpuPercent: monit, primaryCpuPercent: { without: primaryWithout, with: primaryWith } }
  } finally {
    tmux('kill-server')
    if (monitPid > 0) killPid(monitPid, 'SIGKILL')
    await served.stop()
  }
}

export function evaluateM (m, target) {
  if (m?.monitCpuPercent === undefined) return
  target('15 monit CPU at its default refresh (1 s)', `${m.monitCpuPercent}% of a core`, '≤ 3%', m.monitCpuPercent <= 3,
    `pm2 #2793: pm2's monit takes a core; the primary ${m.primaryCpuPercent.without}% → ${m.primaryCpuPercent.with}% while answering it`)
}

export function rowsM (m) {
  if (m?.monitCpuPercent === undefined) return []
  return [['15 monit CPU (1 s refresh, 4 workers)', `${m.monitCpuPercent}% of a core`, `primary ${m.primaryCpuPercent.without}% → ${m.primaryCpuPercent.with}%`,
    `over ${m.windowMs / 1000} s after a 3 s warm-up, on a tmux terminal`]]
}
