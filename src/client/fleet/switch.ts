// Pause everywhere, then switch everywhere: one held commit per host, its stdin a pipe of ours.
//
//   REMOTE commit ID --hold MS --ready ─▶ "READY" (its CLI started; nothing paused yet)
//   every host READY ─▶ "start\n" to all, so that no host waits paused for another's start-up
//     ─▶ "PAUSED" (every worker of the host paused, requests queue)
//   every host PAUSED ─▶ "go\n" to all ─▶ each installs, resumes, prints "OK"
//   any host fails before all PAUSED ─▶ "abort\n" to the others: they resume unchanged
//
// A host whose coordinator vanishes (its ssh drops) resumes on its own, on the old file, at the
// end of its hold.

import { performance } from 'node:perf_hooks'
import { crashArmed, crashPoint } from '../../shared/crash-point.js'
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
  start: () => void
  go: () => void
  abort: () => void
  done: Promise<RemoteResult>
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
  const held: Held = {
    host,
    ready,
    paused,
    start: () => { child.stdin.write('start\n') },
    go: () => { child.stdin.write('go\n') },
    abort: () => { child.stdin.end('abort\n') },
    // The pause wait and the install together are bounded by the hold and one step's time out.
    done: collect(child, holdMs + ssh.timeoutMs),
  }
  child.stdout.on('data', (c: Buffer | string) => {
    out += c.toString()
    if (held.readyAt === undefined && /^(READY|PAUSED)$/m.test(out)) { held.readyAt = performance.now(); resolveReady(true); watch('ready') }
    if (held.pausedAt === undefined && /^PAUSED$/m.test(out)) { held.pausedAt = performance.now(); resolvePaused(true); watch('paused') }
    if (held.okAt === undefined && /^OK$/m.test(out)) { held.okAt = performance.now(); watch('switched') }
  })
  void held.done.then(() => { held.endedAt = performance.now(); resolveReady(false); resolvePaused(false) })
  return held
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
