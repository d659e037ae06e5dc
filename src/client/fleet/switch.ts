// Pause everywhere, then switch everywhere: one held commit per host, its stdin a pipe of ours.
//
//   REMOTE commit ID --hold MS ─▶ "PAUSED" (every worker of the host paused, requests queue)
//   every host PAUSED ─▶ "go\n" to all ─▶ each installs, resumes, prints "OK"
//   any host fails before all PAUSED ─▶ "abort\n" to the others: they resume unchanged
//
// A host whose coordinator vanishes (its ssh drops) resumes on its own, on the old file, at the
// end of its hold.

import { performance } from 'node:perf_hooks'
import type { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import { failureOf } from './reasons.js'
import { collect, type RemoteResult, type Ssh } from './ssh.js'

export interface Held {
  host: FleetHost
  /** true once the host printed PAUSED; false when it ended (or timed out) before. */
  paused: Promise<boolean>
  /** When PAUSED and OK were seen here (performance.now()). */
  pausedAt?: number
  okAt?: number
  go: () => void
  abort: () => void
  done: Promise<RemoteResult>
}

export async function holdOn (ssh: Ssh, host: FleetHost, stage: string, holdMs: number): Promise<Held> {
  const child = await ssh.spawn(host, ['commit', stage, '--hold', String(holdMs)])
  child.stdin.on('error', () => {}) // ssh gone: its exit says why.
  let out = ''
  let resolvePaused: (v: boolean) => void = () => {}
  const paused = new Promise<boolean>((resolve) => { resolvePaused = resolve })
  const held: Held = {
    host,
    paused,
    go: () => { child.stdin.write('go\n') },
    abort: () => { child.stdin.end('abort\n') },
    // The pause wait and the install together are bounded by the hold and one step's time out.
    done: collect(child, holdMs + ssh.timeoutMs),
  }
  child.stdout.on('data', (c: Buffer | string) => {
    out += c.toString()
    if (held.pausedAt === undefined && /^PAUSED$/m.test(out)) { held.pausedAt = performance.now(); resolvePaused(true) }
    if (held.okAt === undefined && /^OK$/m.test(out)) held.okAt = performance.now()
  })
  void held.done.then(() => { resolvePaused(false) })
  return held
}

/** true once every host is paused; false as soon as one is not (then nothing was told to go). */
export async function allPaused (held: Held[], timeoutMs: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    let left = held.length
    const timer = setTimeout(() => resolve(false), timeoutMs)
    for (const h of held) {
      void h.paused.then((ok) => {
        if (!ok) { clearTimeout(timer); resolve(false) } else if (--left === 0) { clearTimeout(timer); resolve(true) }
      })
    }
  })
}

/** The host's failure, when its held commit did not end in OK. */
export function heldFailure (r: RemoteResult, held: Held): HotswapError | undefined {
  if (r.code === 0 && held.okAt !== undefined) return undefined
  return failureOf(r, held.pausedAt === undefined ? 'pause' : 'switch')
}
