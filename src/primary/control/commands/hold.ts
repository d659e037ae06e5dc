// A held swap on the socket (`commit ID --hold MS [--ready]`, `undo DB --to G --hold MS [--ready]`:
// a fleet host's part of a switch). With --ready, everything a commit does before its pause (the
// lock, the stage's checks, the /proc scan, the intent written and fsynced) is done first, then
// "READY" on stdout, and the pause waits for a "start" line on stdin ("start T": at instant T of
// this host's clock, which "clock" lines ask for), scanning /proc again meanwhile: every host's
// pause begins at one instant, rather than each after its own share of that work. Once every
// worker is paused, "PAUSED"; the install waits for a "go" line. "abort", the end of input, a
// disconnect or MS without the line awaited: nothing paused yet, or every worker resumed
// unchanged (the coordinator's hold, swap/coordinator.ts).

import type { Readable } from 'node:stream'
import { HotswapError } from '../../../shared/errors.js'
import { epochNow } from '../../../shared/instant.js'
import type { CommitRequest } from '../../swap/coordinator.js'
import { shown, type Session } from '../session.js'

/** The milliseconds of a `--hold` flag, checked. */
export function holdMsOf (v: string | undefined): number {
  const ms = Number(v)
  if (v === undefined || !/^\d+$/.test(v) || ms < 1 || ms > 600_000) throw new HotswapError('HOTSWAP_ERR_USAGE', `--hold takes milliseconds, 1 to 600000 (got ${v === undefined ? 'nothing' : shown(v)})`)
  return ms
}

/** `--ready` goes with `--hold MS`. */
export function checkReady (command: string, holdMs: number | undefined, ready: boolean): void {
  if (ready && holdMs === undefined) throw new HotswapError('HOTSWAP_ERR_USAGE', `--ready goes with --hold MS (${command} … --hold MS --ready)`)
}

/**
 * The hold of a commit request: READY (with `ready`) and PAUSED told to the client, its start and
 * go read from its stdin. Before its start the client may ask for this host's clock ("clock" ─▶
 * "CLOCK <ms since the epoch> <ms the outside-holder scan took>"), so as to name the instant
 * every host starts at, far enough ahead for each host's second scan: "start <ms>" pauses at that
 * instant of this host's clock (at once when it has passed), "start" at once.
 */
export function holdOf (s: Session, timeoutMs: number, ready = false): NonNullable<CommitRequest['hold']> {
  const next = lines(s.stdin)
  let scanMs = 0
  const start = ready
    ? (async (): Promise<{ at?: number } | false> => {
        for (;;) {
          const line = await next()
          if (line === 'clock') { await s.stdout(`CLOCK ${epochNow().toFixed(3)} ${scanMs.toFixed(3)}\n`); continue }
          const m = line === null ? null : /^start(?: (\d{1,15}(?:\.\d{1,6})?))?$/.exec(line)
          if (m === null) return false
          return m[1] === undefined ? {} : { at: Number(m[1]) }
        }
      })()
    : undefined
  const go = (async () => (start === undefined || await start !== false) && await next() === 'go')()
  return {
    ...(start === undefined ? {} : { ready: async (info: { scanMs: number }) => { scanMs = info.scanMs; await s.stdout('READY\n') }, start }),
    paused: async () => { await s.stdout('PAUSED\n') },
    go,
    timeoutMs,
  }
}

/** The client's lines, one per call (trimmed); null at the end of input, a disconnect, or a line over 64 bytes. */
function lines (stdin: Readable): () => Promise<string | null> {
  const it = stdin[Symbol.asyncIterator]()
  let buf = ''
  let ended = false
  return async () => {
    try {
      while (!ended) {
        const nl = buf.indexOf('\n')
        if (nl >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          return line
        }
        if (buf.length > 64) break
        const r = await it.next()
        if (r.done === true) break
        buf += (r.value as Buffer).toString('utf8')
      }
    } catch { /* the connection went away */ }
    ended = true
    return null
  }
}

