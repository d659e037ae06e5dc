// Pause everywhere, then switch everywhere: one held commit per host. Spoken on the host's control
// socket forwarded through its ssh master where it can be (held-socket.ts, forward.ts: no process
// started on the host, one hop less each way for PAUSED and the go); else a `hotswap commit` CLI
// started over ssh, its stdin a pipe of ours. The same lines either way (held.ts):
//
//   commit ID --hold MS --ready ─▶ "READY" (its server holds the swap lock, its checks passed and
//     its intent is written; nothing paused yet)
//   every host READY ─▶ "clock" to each, 3 times ─▶ "CLOCK <ms> <scan ms>": each host's clock
//     against ours (the answer of the quickest round trip, Cristian's estimate: within half of
//     it), and how long its /proc scan took (it scans again before the instant)
//   ─▶ "start <T>" to each, T one instant in each host's own clock, far enough ahead: every
//     host's pause begins together, not each after the delivery of its line, which differs by
//     milliseconds between hosts (a line through ssh and its sshd)
//     ─▶ "PAUSED" (every worker of the host paused, requests queue)
//   every host PAUSED ─▶ "go\n" to all ─▶ each installs, resumes, prints "OK"
//   any host fails before all PAUSED ─▶ "abort\n" to the others: they resume unchanged
//
// A host whose coordinator vanishes (its ssh drops) resumes on its own, on the old file, at the
// end of its hold.

import { crashArmed, crashPoint } from '../../shared/crash-point.js'
import { epochNow } from '../../shared/instant.js'
import type { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import { forwardSocket } from './forward.js'
import { heldOn, type ClockSample, type Held, type HeldPhase } from './held.js'
import { heldOverSocket } from './held-socket.js'
import { failureOf } from './reasons.js'
import { collect, type RemoteResult, type Ssh } from './ssh.js'

export type { Held, HeldPhase } from './held.js'

/** `command`: what is held (a fleet undo holds `undo DB --to G`); the stage's commit by default. */
export async function holdOn (ssh: Ssh, host: FleetHost, stage: string, holdMs: number, command = ['commit', stage], watch: (phase: HeldPhase) => void = () => {}): Promise<Held> {
  const args = [...command, '--hold', String(holdMs), '--ready']
  // The pause wait and the install together are bounded by the hold and one step's time out.
  const timeoutMs = holdMs + ssh.timeoutMs
  const fwd = await forwardSocket(ssh, host)
  if (fwd !== undefined) return heldOverSocket(ssh, host, fwd, args, timeoutMs, watch)
  const child = await ssh.spawn(host, args)
  child.stdin.on('error', () => {}) // ssh gone: its exit says why.
  const { held, seen } = heldOn(host, 'cli', {
    write: (line) => { child.stdin.write(line) },
    end: (line) => { child.stdin.end(line) },
    done: collect(child, timeoutMs),
  }, watch)
  child.stdout.on('data', (c: Buffer | string) => { seen(c.toString()) })
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
