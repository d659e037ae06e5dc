// One host's held commit (or undo), however it is spoken: the host's control socket forwarded
// through its ssh master (held-socket.ts), or a `hotswap` CLI started over ssh (switch.ts). Both
// carry the same lines, the server's own (primary/control/commands/hold.ts):
//
//   down: "clock", "start [T]", "go", "abort"      up: "READY", "CLOCK <ms> <scan ms>", "PAUSED", "OK"

import { performance } from 'node:perf_hooks'
import { epochNow } from '../../shared/instant.js'
import type { FleetHost } from './config.js'
import type { RemoteResult } from './ssh.js'

export interface Held {
  host: FleetHost
  /** How the host is spoken to: its socket forwarded through its ssh master, or a CLI over ssh. */
  via: 'socket' | 'cli'
  /** true once the host printed READY (or PAUSED); false when it ended before. */
  ready: Promise<boolean>
  /** true once the host printed PAUSED; false when it ended (or timed out) before. */
  paused: Promise<boolean>
  /** When READY, PAUSED and OK were seen here (performance.now()). */
  readyAt?: number
  pausedAt?: number
  okAt?: number
  /** When its ssh (or its connection) ended. */
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

/** A transport's two ends: lines down (the last one ends the input), and its end. */
export interface HeldChannel {
  write: (line: string) => void
  end: (line: string) => void
  done: Promise<RemoteResult>
}

/** The Held of a channel, and `seen`, which the channel calls with each piece of the host's stdout. */
export function heldOn (host: FleetHost, via: Held['via'], ch: HeldChannel, watch: (phase: HeldPhase) => void): { held: Held, seen: (text: string) => void } {
  let out = ''
  let line = ''
  let resolvePaused: (v: boolean) => void = () => {}
  let resolveReady: (v: boolean) => void = () => {}
  const paused = new Promise<boolean>((resolve) => { resolvePaused = resolve })
  const ready = new Promise<boolean>((resolve) => { resolveReady = resolve })
  let clockAnswer: ((hostMs: number, scanMs: number) => void) | undefined
  const held: Held = {
    host,
    via,
    ready,
    paused,
    start: (at) => { ch.write(at === undefined ? 'start\n' : `start ${at.toFixed(3)}\n`) },
    clock: async (timeoutMs) => await new Promise<ClockSample | undefined>((resolve) => {
      const timer = setTimeout(() => { clockAnswer = undefined; resolve(undefined) }, timeoutMs)
      void ch.done.then(() => { clearTimeout(timer); resolve(undefined) })
      const sent = epochNow()
      clockAnswer = (hostMs, scanMs) => {
        const back = epochNow()
        clearTimeout(timer)
        resolve({ offsetMs: hostMs - (sent + back) / 2, rttMs: back - sent, scanMs })
      }
      ch.write('clock\n')
    }),
    go: () => { ch.write('go\n') },
    abort: () => { ch.end('abort\n') },
    done: ch.done,
  }
  const seen = (text: string): void => {
    out += text
    line += text
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
  }
  void ch.done.then(() => { held.endedAt = performance.now(); resolveReady(false); resolvePaused(false) })
  return { held, seen }
}
