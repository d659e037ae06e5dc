// monit's log pane fed by the primary's ring of recent records: one `logs --json --follow`
// connection for the whole monit (a poll a second would log a `command:` line a second), its
// records handed over at each refresh. A server without the `logs` command (an older hotswap),
// or one whose stream ended, leaves the pane to StatusEvents, what changed between two reports.

import { runRemote } from '../connection.js'
import type { MonitReport } from '../../shared/monit-report.js'
import { StatusEvents, type LogFeed, type LogLine } from './log-feed.js'

/** Records asked for when monit starts: the pane shows the last that fit. */
const BACKLOG = 50

export class RingFeed implements LogFeed {
  readonly #pending: LogLine[] = []
  readonly #abort = new AbortController()
  #partial = ''
  #fallback: StatusEvents | undefined

  constructor (socketPath: string) {
    const fallBack = (): void => { if (!this.#abort.signal.aborted) this.#fallback ??= new StatusEvents() }
    runRemote({
      socketPath,
      args: ['logs', '--json', '--follow', '--lines', String(BACKLOG)],
      tty: false,
      signal: this.#abort.signal,
      onStdout: (c) => { this.#take(c.toString('utf8')) },
      onStderr: () => {},
    }).then(fallBack, fallBack)
  }

  #take (text: string): void {
    const lines = (this.#partial + text).split('\n')
    this.#partial = lines.pop() ?? ''
    for (const line of lines) {
      const l = recordLine(line)
      if (l !== undefined) this.#pending.push(l)
    }
  }

  poll (report: MonitReport): LogLine[] {
    const out = this.#pending.splice(0)
    if (this.#fallback !== undefined) out.push(...this.#fallback.poll(report))
    return out
  }

  close (): void {
    this.#abort.abort()
  }
}

/** One JSON record of the ring as a pane line; undefined when it is not one. */
export function recordLine (line: string): LogLine | undefined {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (r === null || typeof r !== 'object' || typeof r.message !== 'string') return undefined
  const role = typeof r.role === 'string' ? r.role : ''
  const slot = /^worker (\d+)$/.exec(role)
  const at = typeof r.timestamp === 'string' ? Date.parse(r.timestamp) : NaN
  const level = r.level === 'error' ? 'error' : r.level === 'warn' ? 'warn' : 'info'
  const text = (slot === null && role !== '' ? `${role}: ` : '') + r.message.split('\n')[0]
  return slot === null ? { at: Number.isNaN(at) ? Date.now() : at, level, text } : { at: Number.isNaN(at) ? Date.now() : at, level, text, worker: Number(slot[1]) }
}
