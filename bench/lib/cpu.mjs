// How much CPU other processes took while the bench ran. On a 2-core machine a concurrent
// test run or compile skews every figure, so the bench measures it and says so.
//
// Every second: busy ticks of the whole machine (/proc/stat) minus the ticks of the bench's
// own process tree (this process and its descendants, utime+stime+cutime+cstime from
// /proc/PID/stat; reaped children move into their parent's cutime, so nothing is lost), plus
// any extra roots (pm2's daemon, which detaches from our tree).
import fs from 'node:fs'
import os from 'node:os'

const HZ = 100 // USER_HZ on Linux

function machineBusyTicks () {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal ...
  const idle = cpu[3] + (cpu[4] ?? 0)
  return cpu.reduce((a, b) => a + b, 0) - idle
}

function readStats () {
  const out = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const raw = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
      // fields[0] is state (field 3); ppid is field 4, utime..cstime are fields 14..17
      out.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) })
    } catch { /* gone */ }
  }
  return out
}

function treeTicks (roots) {
  const stats = readStats()
  const children = new Map()
  for (const [pid, s] of stats) {
    if (!children.has(s.ppid)) children.set(s.ppid, [])
    children.get(s.ppid).push(pid)
  }
  let ticks = 0
  const seen = new Set()
  const stack = [...roots]
  while (stack.length > 0) {
    const pid = stack.pop()
    if (seen.has(pid)) continue
    seen.add(pid)
    ticks += stats.get(pid)?.ticks ?? 0
    stack.push(...(children.get(pid) ?? []))
  }
  return ticks
}

/** CPU time (ms) used so far by `pid` and its descendants, reaped ones included. */
export function treeCpuMs (pid) {
  return treeTicks([pid]) * (1000 / HZ)
}

export function cpuMonitor () {
  const extraRoots = new Set()
  const samples = [] // { t, foreignCores }
  let last = { t: performance.now(), busy: machineBusyTicks(), mine: treeTicks([process.pid]) }
  const timer = setInterval(() => {
    const now = { t: performance.now(), busy: machineBusyTicks(), mine: treeTicks([process.pid, ...extraRoots]) }
    const seconds = (now.t - last.t) / 1000
    const foreign = Math.max(0, (now.busy - last.busy) - Math.max(0, now.mine - last.mine)) / HZ / seconds
    samples.push({ t: now.t, foreignCores: Math.min(foreign, os.availableParallelism()) })
    last = now
  }, 1000)
  timer.unref()
  return {
    addRoot: (pid) => extraRoots.add(pid),
    removeRoot: (pid) => extraRoots.delete(pid),
    /** Mean and max foreign cores over samples taken after `since` (a performance.now()). */
    since: (since) => {
      const xs = samples.filter((s) => s.t >= since).map((s) => s.foreignCores)
      if (xs.length === 0) return { mean: null, max: null, seconds: 0 }
      return {
        mean: Math.round(xs.reduce((a, b) => a + b, 0) / xs.length * 100) / 100,
        max: Math.round(Math.max(...xs) * 100) / 100,
        seconds: xs.length,
      }
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * CPU time (ms, fractional) `pid` itself has used so far, 0 once it is gone: the scheduler's run
 * time of each of its threads (/proc/PID/task/TID/schedstat, in ns), or where that is not kept,
 * utime + stime from /proc/PID/stat (ticks of 10 ms: coarse for a process at a few %).
 */
export function processCpuMs (pid) {
  try {
    let ns = 0
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch { /* the thread ended */ }
    }
    if (ns > 0) return ns / 1e6
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * (1000 / HZ)
  } catch {
    return 0
  }
}
