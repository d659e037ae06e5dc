// A held swap on the socket (`commit ID --hold MS`, `undo DB --to G --hold MS`: a fleet host's
// part of a switch): once every worker is paused, "PAUSED" on stdout; the install waits for a
// "go" line on stdin, and "abort", the end of input, a disconnect or MS without either resume
// every worker unchanged (the coordinator's hold, swap/coordinator.ts).

import { HotswapError } from '../../../shared/errors.js'
import type { CommitRequest } from '../../swap/coordinator.js'
import { shown, type Session } from '../session.js'

/** The milliseconds of a `--hold` flag, checked. */
export function holdMsOf (v: string | undefined): number {
  const ms = Number(v)
  if (v === undefined || !/^\d+$/.test(v) || ms < 1 || ms > 600_000) throw new HotswapError('HOTSWAP_ERR_USAGE', `--hold takes milliseconds, 1 to 600000 (got ${v === undefined ? 'nothing' : shown(v)})`)
  return ms
}

/** The hold of a commit request: PAUSED told to the client, the go read from its stdin. */
export function holdOf (s: Session, timeoutMs: number): NonNullable<CommitRequest['hold']> {
  return { paused: async () => { await s.stdout('PAUSED\n') }, go: goFrom(s), timeoutMs }
}

/** true on a "go" line from the client; false on "abort", end of input or a disconnect. */
async function goFrom (s: Session): Promise<boolean> {
  let text = ''
  try {
    for await (const chunk of s.stdin) {
      text += (chunk as Buffer).toString('utf8')
      if (/^go$/m.test(text)) return true
      if (/^abort$/m.test(text) || text.length > 64) return false
    }
  } catch { /* the connection went away */ }
  return false
}
