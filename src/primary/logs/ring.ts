// The primary's recent log records, for `hotswap logs` (and `monit`): a winston transport that
// keeps the last RING_RECORDS records (at most RING_BYTES of them) as the JSON lines the log
// file gets, and hands each new one to whoever follows.
//
//   logger ─▶ LogRing.log ─▶ ring (oldest dropped first) ─▶ recent({ lines, worker })
//                        └─▶ followers ─▶ subscribe(fn) (a `logs --follow` connection)

import winston from 'winston'
import type TransportStream from 'winston-transport'
import { jsonFormat } from '../../shared/logger.js'

/** winston's Transport class (its declarations name the module, not the class). */
const Transport = (winston as unknown as { Transport: typeof TransportStream }).Transport

export const RING_RECORDS = 1000
const RING_BYTES = 2 * 1024 * 1024

/** One record: its JSON line, and the role it came from (`primary`, `swap`, `worker 2` …). */
export interface LogLine {
  line: string
  role: string
}

export type LogFollower = (l: LogLine) => void

const MESSAGE = Symbol.for('message')

export class LogRing extends Transport {
  readonly #lines: LogLine[] = []
  #bytes = 0
  readonly #followers = new Set<LogFollower>()

  constructor () {
    super({ format: jsonFormat() })
  }

  /** winston's entry point: `info` is this transport's copy, formatted. */
  override log (info: Record<string | symbol, unknown>, next: () => void): void {
    const l: LogLine = { line: String(info[MESSAGE]), role: String(info.role ?? '') }
    this.#lines.push(l)
    this.#bytes += l.line.length
    while (this.#lines.length > RING_RECORDS || (this.#bytes > RING_BYTES && this.#lines.length > 1)) {
      this.#bytes -= (this.#lines.shift() as LogLine).line.length
    }
    for (const f of this.#followers) f(l)
    next()
  }

  /** The last `lines` records (of worker `worker` only, when given), oldest first. */
  recent (opts: { lines: number, worker?: number | undefined }): LogLine[] {
    const role = opts.worker === undefined ? undefined : `worker ${opts.worker}`
    const out: LogLine[] = []
    for (let i = this.#lines.length - 1; i >= 0 && out.length < opts.lines; i--) {
      const l = this.#lines[i] as LogLine
      if (role === undefined || l.role === role) out.push(l)
    }
    return out.reverse()
  }

  /** Calls `fn` with every record from now on; returns the function that stops it. */
  subscribe (fn: LogFollower): () => void {
    this.#followers.add(fn)
    return () => { this.#followers.delete(fn) }
  }
}
