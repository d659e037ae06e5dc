// Pause everywhere, then switch everywhere: one held commit per host, its stdin a pipe of ours.
//
//   REMOTE commit ID --hold MS --ready ─▶ "READY" (its CLI started, its server holds the swap
//     lock, its checks passed and its intent is written; nothing paused yet)
//   every host READY ─▶ "clock" to each, 3 times ─▶ "CLOCK <ms> <scan ms>": each host's clock
//     against ours (the answer of the quickest round trip, Cristian's estimate: within half of
//     it), and how long its /proc scan took (it scans again before the instant)
//   ─▶ "start <T>" to each, T one instant in each host's own clock, far enough ahead: every
//     host's pause begins together, not each after the delivery of its line, which differs by
//     milliseconds between hosts (a line through ssh, its sshd and its CLI)
//     ─▶ "PAUSED" (every worker of the host paused, requests queue)
//   every host PAUSED ─▶ "go\n" to all ─▶ each installs, resumes, prints "OK"
//   any host fails before all PAUSED ─▶ "abort\n" to the others: they resume unchanged
//
// A host whose coordinator vanishes (its ssh drops) resumes on its own, on the old file, at the
// end of its hold.

import { performance } from 'node:perf_hooks'
import { crashArmed, crashPoint } from '../../shared/crash-point.js'
import { epochNow } from '../../shared/instant.js'
import type { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import { failureOf } from './reasons.js'
import { collect, type RemoteResult, type Ssh } from './ssh.js'

export interface Held {
  host: FleetHost
  /** true once the host printed READY (or PAUSED); false when it ended before. */
  ready: Promise<boolean>
  /** true once the host printed PAUSED; false when it ended (or timed out) before. */
  paused: Promise<boolean>
  /** When PAUSED and OK were seen here (performance.now()). */
  readyAt?: number
  pausedAt?: number
  okAt?: number
  /** When its ssh ended. */
  endedAt?: number
  /** At once, or at `at` (ms since the epoch, the host's own clock). */
  start: (at?: number) => void
  /** The host's clock against ours: one "clock" line and its answer; undefined when it did not come within `timeoutMs`. */
  clock: (timeoutMs: number) => Promise<ClockSample | undefined>
  go: () => void
  abort: () => void
  done: Promise<RemoteResult>
}

export interface ClockSample {
  /** The host's clock less ours (ms), as of the middle of the round trip. */
  offsetMs: number
  rttMs: number
  /** How long the host's outside-holder scan took: it scans again before the instant. */
  scanMs: number
}

/** What a terminal's progress is told as a held commit goes on. */
export type HeldPhase = 'ready' | 'paused' | 'switched'

/** `command`: what is held (a fleet undo holds `undo LIVE --to G`); the stage's commit by default. */
export async function holdOn (ssh: Ssh, host: FleetHost, stage: string, holdMs: number, command = ['commit', stage], watch: (phase: HeldPhase) => void = () => {}): Promise<Held> {
  const child = await ssh.spawn(host, [...command, '--hold', String(holdMs), '--ready'])
  child.stdin.on('error', () => {}) // ssh gone: its exit says why.
  let out = ''
  let resolvePaused: (v: boolean) => void = () => {}
  let resolveReady: (v: boolean) => void = () => {}
  const paused = new Promise<boolean>((resolve) => { resolvePaused = resolve })
  const ready = new Promise<boolean>((resolve) => { resolveReady = resolve })
  let clockAnswer: ((hostMs: number, scanMs: number) => void) | undefined
  let line = ''
  const held: Held = {
    host,
    ready,
    paused,
    start: (at) => { child.stdin.write(at === undefined ? 'start\n' : `start ${at.toFixed(3)}\n`) },
    clock: async (timeoutMs) => await new Promise<ClockSample | undefined>((resolve) => {
      const timer = setTimeout(() => { clockAnswer = undefined; resolve(undefined) }, timeoutMs)
      void held.done.then(() => { clearTimeout(timer); resolve(undefined) })
      const sent = epochNow()
      clockAnswer = (hostMs, scanMs) => {
        const back = epochNow()
        clearTimeout(timer)
        resolve({ offsetMs: hostMs - (sent + back) / 2, rttMs: back - sent, scanMs })
      }
      child.stdin.write('clock\n')
    }),
    go: () => { child.stdin.write('go\n') },
    abort: () => { child.stdin.end('abort\n') },
    // The pause wait and the install together are bounded by the hold and one step's time out.
    done: collect(child, holdMs + ssh.timeoutMs),
  }
  child.stdout.on('data', (c: Buffer | string) => {
    out += c.toString()
    line += c.toString()
    for (let nl = line.indexOf('\n'); nl >= 0; nl = line.indexOf('\n')) {
      const m = /^CLOCK (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(line.slice(0, nl))
      line = line.slice(nl + 1)
      if (m === null) continue
      const answer = clockAnswer
      clockAnswer = undefined
      answer?.(Number(m[1]), Number(m[2]))
    }
    if (held.readyAt === undefined && /^(READY|PAUSED)$/m.test(out)) { held.readyAt = performance.now(); resolveReady(true); watch('ready') }
    if (held.pausedAt === undefined && /^PAUSED$/m.test(out)) { held.pausedAt = performance.now(); resolvePaused(true); watch('paused') }
    if (held.okAt === undefined && /^OK$/m.test(out)) { held.okAt = performance.now(); watch('switched') }
  })
  void held.done.then(() => { held.endedAt = performance.now(); resolveReady(false); resolvePaused(false) })
  return held
}

/** How many clock samples each host is asked for; the quickest round trip's is used. */
const CLOCK_SAMPLES = 3

/**
 * Every host (all ready) told to start its pause at one instant: each host's clock sampled, then
 * "start T" with T in its own clock, far enough ahead for the slowest line to arrive and the
 * slowest host's second outside-holder scan to end (twice the slowest round trip seen, 1.5 times
 * the slowest scan, and 2 ms). false when a host did not answer its clock within `timeoutMs`
 * (none was started).
 */
export async function startAll (held: Held[], timeoutMs: number): Promise<boolean> {
  const samples = await Promise.all(held.map(async (h) => {
    const got: ClockSample[] = []
    for (let i = 0; i < CLOCK_SAMPLES; i++) {
      const s = await h.clock(timeoutMs)
      if (s === undefined) return undefined
      got.push(s)
    }
    return got
  }))
  if (samples.some((s) => s === undefined)) return false
  const all = samples as ClockSample[][]
  const slowest = Math.max(...all.flat().map((s) => s.rttMs))
  const scan = Math.max(...all.flat().map((s) => s.scanMs))
  const at = epochNow() + Math.min(2 * slowest + 1.5 * scan + 2, timeoutMs / 2)
  for (const [i, h] of held.entries()) {
    const best = (all[i] as ClockSample[]).reduce((a, b) => b.rttMs < a.rttMs ? b : a)
    h.start(at + best.offsetMs)
  }
  return true
}

/**
 * true once every host is ready (or paused); false as soon as one is not, at the time out, on
 * `stop`, or when a host that was ready (or paused) ends meanwhile: a host killed while paused
 * stops the switch before any go, rather than the others switching and being undone.
 */
export async function all (held: Held[], what: 'ready' | 'paused', timeoutMs: number, stop?: Promise<void>): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    let left = held.length
    const timer = setTimeout(() => resolve(false), timeoutMs)
    void stop?.then(() => { clearTimeout(timer); resolve(false) })
    for (const h of held) {
      void h[what].then((ok) => {
        if (!ok) { clearTimeout(timer); resolve(false) } else if (--left === 0) { clearTimeout(timer); resolve(true) }
      })
      void h.done.then(() => { clearTimeout(timer); resolve(false) })
    }
  })
}

/** The host's failure, when its held commit did not end in OK. */
export function heldFailure (r: RemoteResult, held: Held): HotswapError | undefined {
  if (r.code === 0 && held.okAt !== undefined) return undefined
  return failureOf(r, held.pausedAt === undefined ? 'pause' : 'switch')
}

/**
 * Tells every host to go, then waits for each one's end. At the tests' crash point
 * fleet-between-installs the first host's OK comes before the others are told.
 */
export async function goAll (held: Held[]): Promise<RemoteResult[]> {
  const [first, ...others] = held as [Held, ...Held[]]
  first.go()
  if (crashArmed('fleet-between-installs')) { await first.done; crashPoint('fleet-between-installs') }
  for (const h of others) h.go()
  return await Promise.all(held.map(async (h) => await h.done))
}
