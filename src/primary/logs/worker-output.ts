// One of a worker's output pipes (stdout or stderr) as records, the way log aggregators want them:
//
//   bytes ─▶ cut at "\n" and at RS ─┬─ RS…"\n": a record of hotswap's own (JSON, its fields kept)
//                                   └─ app text ─▶ a JSON object line? ─ yes ─▶ merged (app-json.ts)
//                                                         └─ no ─▶ grouped: the lines of one stack
//                                                                  trace or inspected object
//                                                                  are one record
//
// The worker writes its own records behind a record separator (shared/logger.ts), so a partial
// line the app left (process.stdout.write('…') with no newline) ends where a record begins and
// never swallows it. A line that starts with white space, or with `}` or `]`, continues the
// previous one: an app's error(err) on the console writes its whole stack, and util.inspect
// its whole object, in one write, so they arrive in one read. A read that emptied the pipe
// (shorter than a full read) ends the record there and then, with no delay (fault tests time
// their faults on the app's lines); only after a full read does it wait GROUP_MS for the rest.

import { StringDecoder } from 'node:string_decoder'
import { LOG_LEVELS, RECORD_SEPARATOR } from '../../shared/logger.js'
import { appJsonRecord, type AppRecord } from './app-json.js'

/** How long a record waits for a continuation line after a full read. */
const GROUP_MS = 20
/** What one read of a pipe returns at most (libuv reads 64 KiB). */
const FULL_READ = 64 * 1024
/** A partial line (no newline yet) longer than this is a record of its own. */
const MAX_PARTIAL = 64 * 1024
/** A grouped record stops growing at this many lines. */
const MAX_GROUP_LINES = 1000

const CONTINUES = /^(?:\s+\S|[}\]])/
const STACK_FRAME = /\n\s+at \S/

export type OutputRecord = AppRecord & { /** Written by hotswap's runtime in the worker. */ own: boolean }

/** One of the worker runtime's own records: its fields as they are (its role and time are ours). */
function ownRecord (line: string): OutputRecord | undefined {
  try {
    const entry = JSON.parse(line) as unknown
    if (typeof entry !== 'object' || entry === null) return undefined
    const { level, message, timestamp: _t, role: _r, ...fields } = entry as Record<string, unknown>
    if (typeof level !== 'string' || !LOG_LEVELS.includes(level) || typeof message !== 'string') return undefined
    return { level, message, fields, own: true }
  } catch {
    return undefined
  }
}

export class WorkerOutput {
  readonly #stream: 'stdout' | 'stderr'
  readonly #emit: (r: OutputRecord) => void
  #partial = ''
  /** The current text is one of hotswap's own records (it began with RS). */
  #own = false
  #group: string[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #decoder = new StringDecoder('utf8')

  constructor (stream: 'stdout' | 'stderr', emit: (r: OutputRecord) => void) {
    this.#stream = stream
    this.#emit = emit
  }

  /** One read of the pipe, as it came. */
  push (bytes: Buffer): void {
    // The decoder keeps a character cut by the read for the next one.
    const chunk = this.#decoder.write(bytes)
    let from = 0
    for (;;) {
      const nl = chunk.indexOf('\n', from)
      const rs = chunk.indexOf(RECORD_SEPARATOR, from)
      const at = nl === -1 ? rs : rs === -1 ? nl : Math.min(nl, rs)
      if (at === -1) break
      const text = this.#partial + chunk.slice(from, at)
      this.#partial = ''
      if (chunk[at] === '\n') {
        this.#line(text)
        this.#own = false
      } else {
        // A record begins: what the app left unfinished before it is a line of its own.
        if (text !== '') this.#line(text)
        this.#own = true
      }
      from = at + 1
    }
    this.#partial += chunk.slice(from)
    if (this.#partial.length > MAX_PARTIAL) {
      const text = this.#partial
      this.#partial = ''
      this.#line(text)
    }
    // The pipe was emptied: what was written together has come.
    if (bytes.length < FULL_READ) this.#flush()
  }

  /** The pipe closed: everything still held is a record. */
  end (): void {
    this.#partial += this.#decoder.end()
    if (this.#partial !== '') {
      const text = this.#partial
      this.#partial = ''
      this.#line(text)
    }
    this.#own = false
    this.#flush()
  }

  #line (text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text
    if (this.#own) {
      this.#flush()
      // A record of ours that does not parse (cut by a crash) is still shown, as text.
      this.#emit(ownRecord(line) ?? { level: this.#fallback(), message: line, fields: { stream: this.#stream }, own: false })
      return
    }
    if (this.#group.length > 0 && this.#group.length < MAX_GROUP_LINES && CONTINUES.test(line)) {
      this.#group.push(line)
      this.#wait()
      return
    }
    this.#flush()
    const json = appJsonRecord(line, this.#fallback())
    if (json !== undefined) {
      this.#emit({ ...json, fields: { ...json.fields, stream: this.#stream }, own: false })
      return
    }
    this.#group.push(line)
    this.#wait()
  }

  #wait (): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#flush(), GROUP_MS)
  }

  #flush (): void {
    clearTimeout(this.#timer)
    if (this.#group.length === 0) return
    const message = this.#group.join('\n')
    this.#group = []
    // A stack trace on stderr (an app's error(err) on the console) is an error, not a warning.
    const level = this.#stream === 'stderr' && STACK_FRAME.test(message) ? 'error' : this.#fallback()
    this.#emit({ level, message, fields: { stream: this.#stream }, own: false })
  }

  #fallback (): string {
    return this.#stream === 'stderr' ? 'warn' : 'info'
  }
}
