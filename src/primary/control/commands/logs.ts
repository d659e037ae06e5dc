// `logs [--lines N] [--follow] [--worker N] [--json]` on the socket: the last N records the
// primary keeps (its own, every worker's and the apps'), then with --follow each new one as it
// comes, until the client goes away or the server stops (then exit 0).
//
//   ring.recent ─▶ stdout frames ─▶ (--follow) subscribe ─▶ queue ─▶ stdout frames …
//
// A reader slower than the records (a paused terminal) drops them past FOLLOW_QUEUE, and is
// told how many: the server never buffers without bound, nor waits for a reader.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { prettyLine } from '../../../shared/logger.js'
import type { LogLine } from '../../logs/ring.js'
import { shown, type ServerContext, type Session } from '../session.js'

export const DEFAULT_LINES = 20
const FOLLOW_QUEUE = 10_000
const USAGE = 'logs [--lines N] [--follow] [--worker N] [--json]'

export interface LogsOptions {
  lines: number
  follow: boolean
  worker: number | undefined
  json: boolean
}

function count (flag: string, value: string | undefined, min: number): number {
  const n = value === undefined || !/^\d+$/.test(value) ? NaN : Number(value)
  if (!Number.isSafeInteger(n) || n < min) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `${flag} takes an integer of at least ${min} (got ${value === undefined ? 'nothing' : shown(value)}) (${USAGE})`)
  }
  return n
}

export function parseLogsArgs (args: string[]): LogsOptions {
  const o: LogsOptions = { lines: DEFAULT_LINES, follow: false, worker: undefined, json: false }
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--follow') o.follow = true
    else if (a === '--json') o.json = true
    else if (a === '--lines') o.lines = count('--lines', args[++i], 0)
    else if (a === '--worker') o.worker = count('--worker', args[++i], 1)
    else throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${shown(a)} for logs (${USAGE})`)
  }
  return o
}

/** A record as the client reads it: its JSON line, or the pretty line a terminal shows. */
function text (l: LogLine, json: boolean): string {
  if (json) return l.line + '\n'
  try {
    return prettyLine(JSON.parse(l.line) as Record<string, unknown>) + '\n'
  } catch {
    return l.line + '\n'
  }
}

export async function logs (s: Session, ctx: ServerContext): Promise<number> {
  const o = parseLogsArgs(s.args.slice(1))
  s.stdin.resume()
  const role = o.worker === undefined ? undefined : `worker ${o.worker}`
  const queue: LogLine[] = []
  let dropped = 0
  let wake: (() => void) | undefined
  // Subscribed before the recent ones are read: nothing falls between the two.
  const unsubscribe = o.follow
    ? ctx.logs.subscribe((l) => {
      if (role !== undefined && l.role !== role) return
      if (queue.length >= FOLLOW_QUEUE) dropped++
      else queue.push(l)
      wake?.()
    })
    : () => {}
  try {
    const recent = ctx.logs.recent({ lines: o.lines, worker: o.worker })
    if (recent.length > 0) await s.stdout(recent.map((l) => text(l, o.json)).join(''))
    if (!o.follow) return ExitCodes.ok
    // The client went away (its Ctrl-C) or the server is stopping: both end its stdin.
    let ended = s.isClosed()
    const end = (): void => { ended = true; wake?.() }
    s.stdin.once('close', end)
    s.stdin.once('end', end)
    while (!ended && !s.isClosed()) {
      if (queue.length === 0) await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
      const batch = queue.splice(0)
      let out = batch.map((l) => text(l, o.json)).join('')
      if (dropped > 0) {
        const note = { level: 'warn', message: `${dropped} record(s) not shown: the reader was slower than the log`, role: 'logs', timestamp: new Date().toISOString() }
        out += o.json ? JSON.stringify(note) + '\n' : prettyLine(note) + '\n'
        dropped = 0
      }
      if (out !== '' && !ended) await s.stdout(out)
    }
    return ExitCodes.ok
  } finally {
    unsubscribe()
  }
}
