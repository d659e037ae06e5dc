// The progress display of `cp` on stderr, when stderr is a terminal (and nothing at all when it
// is not, so scripts and pipes see only what they asked for).
//
//   push 12.0 MiB / 40.0 MiB (30%), 85.1 MiB/s, ETA 0.3 s     ← one line, redrawn in place
//   push 40.0 MiB in 0.5 s (80.0 MiB/s)                       ← when the last byte is sent
//   received 40.0 MiB, validating…                            ← phase lines from the server
//   checks passed, swapping…                                     (sent because we said tty)
//   swapped production: pause 4.2 ms across 4 worker(s)
//   done in 1.3 s
//
// The phases come from the server, which alone knows them (the gem's client prints the same
// lines); this module draws the bytes, the rate and the ETA (when the size is known), and keeps
// the server's lines from landing in the middle of its redrawn line.

import { fstatSync } from 'node:fs'
import { pipeline, Transform, type Readable } from 'node:stream'
import { ExitCodes } from '../shared/errors.js'
import { formatBytes } from '../shared/format.js'

export type Direction = 'push' | 'pull'

export interface ProgressState {
  direction: Direction
  bytes: number
  /** Total size when known (a pushed file, stdin redirected from a file); null otherwise. */
  total: number | null
  elapsedMs: number
}

export function formatDuration (ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

/** A rate over the first instants of a transfer says nothing; none is shown before this. */
const MIN_RATE_WINDOW_MS = 250

function rateOf (bytes: number, elapsedMs: number): number | null {
  return elapsedMs >= MIN_RATE_WINDOW_MS ? bytes / (elapsedMs / 1000) : null
}

/** The live line: bytes (of total), rate, and ETA when the total is known. */
export function formatProgress (p: ProgressState): string {
  const rate = rateOf(p.bytes, p.elapsedMs)
  const parts = [p.total === null
    ? `${p.direction} ${formatBytes(p.bytes)}`
    : `${p.direction} ${formatBytes(p.bytes)} / ${formatBytes(p.total)} (${p.total === 0 ? 100 : Math.min(100, Math.floor(p.bytes / p.total * 100))}%)`]
  if (rate !== null && p.bytes > 0) parts.push(`${formatBytes(Math.round(rate))}/s`)
  if (p.total !== null && rate !== null && rate > 0 && p.bytes > 0 && p.bytes < p.total) {
    parts.push(`ETA ${formatDuration((p.total - p.bytes) / rate * 1000)}`)
  }
  return parts.join(', ')
}

/** The line that replaces the live one when the transfer is over. */
export function formatTransferred (p: ProgressState): string {
  const rate = p.elapsedMs > 0 ? p.bytes / (p.elapsedMs / 1000) : null
  return `${p.direction} ${formatBytes(p.bytes)} in ${formatDuration(p.elapsedMs)}${rate === null ? '' : ` (${formatBytes(Math.round(rate))}/s)`}`
}

export interface ProgressStream {
  isTTY?: boolean
  columns?: number
  write: (text: string | Buffer) => unknown
}

export interface ProgressOptions {
  stream?: ProgressStream
  now?: () => number
  /** Least time between two redraws of the live line. */
  intervalMs?: number
}

export class Progress {
  readonly enabled: boolean
  readonly #direction: Direction
  readonly #total: number | null
  readonly #stream: ProgressStream
  readonly #now: () => number
  readonly #intervalMs: number
  readonly #started: number
  /** Rates and the summary count from the first byte: a pull waits for its snapshot first. */
  #firstByteAt: number | null = null
  #bytes = 0
  #transferEndedAt: number | null = null
  #lastDraw = -Infinity
  /** True while the live line is on screen (the cursor is at its end). */
  #live = false

  constructor (direction: Direction, total: number | null, opts: ProgressOptions = {}) {
    this.#stream = opts.stream ?? process.stderr
    this.enabled = this.#stream.isTTY === true
    this.#direction = direction
    this.#total = total
    this.#now = opts.now ?? (() => performance.now())
    this.#intervalMs = opts.intervalMs ?? 100
    this.#started = this.#now()
  }

  #state (): ProgressState {
    const end = this.#transferEndedAt ?? this.#now()
    return { direction: this.#direction, bytes: this.#bytes, total: this.#total, elapsedMs: end - (this.#firstByteAt ?? end) }
  }

  #clear (): void {
    if (this.#live) this.#stream.write('\r\x1b[K')
    this.#live = false
  }

  #draw (): void {
    // A line wider than the terminal wraps, and \r would then redraw only its last part.
    const columns = this.#stream.columns ?? 0
    const width = columns > 20 ? columns - 1 : 79
    this.#stream.write(`\r${formatProgress(this.#state()).slice(0, width)}\x1b[K`)
    this.#live = true
    this.#lastDraw = this.#now()
  }

  /** Counts `n` more bytes moved; redraws at most every intervalMs. */
  add (n: number): void {
    if (!this.enabled || this.#transferEndedAt !== null) return
    this.#firstByteAt ??= this.#now()
    this.#bytes += n
    if (this.#now() - this.#lastDraw >= this.#intervalMs) this.#draw()
  }

  /** A stream that passes `source` through and counts it; the transfer ends with it. */
  count (source: Readable): Readable {
    if (!this.enabled) return source
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.add(chunk.length)
        done(null, chunk)
      },
      flush: (done) => {
        this.endTransfer()
        done()
      },
    })
    // pipeline, not pipe: when the reader stops early (the server refused), the source is closed too.
    pipeline(source, counter, () => {})
    return counter
  }

  /** Replaces the live line with the transfer's summary (once). */
  endTransfer (): void {
    if (!this.enabled || this.#transferEndedAt !== null) return
    this.#transferEndedAt = this.#now()
    this.#clear()
    // Nothing crossed the socket when the server read or wrote the file itself.
    if (this.#bytes > 0) this.#stream.write(formatTransferred(this.#state()) + '\n')
  }

  /** Text for stderr (the server's phase and error lines): never in the middle of the live line. */
  print (text: Buffer | string): void {
    if (!this.enabled) {
      this.#stream.write(text)
      return
    }
    this.#clear()
    this.#stream.write(text)
    if (this.#transferEndedAt === null && this.#bytes > 0) this.#draw()
  }

  /** The end of the command: a summary on success; on failure only the live line is cleared. */
  finish (exit: number): void {
    if (!this.enabled) return
    if (exit === ExitCodes.ok) {
      this.endTransfer()
      this.#stream.write(`done in ${formatDuration(this.#now() - this.#started)}\n`)
    } else {
      this.#clear()
    }
  }
}

/** The size of what a file descriptor reads, when it is a regular file (stdin from `< file`). */
export function sizeOfFd (fd: number): number | null {
  try {
    const st = fstatSync(fd)
    return st.isFile() ? st.size : null
  } catch {
    return null
  }
}

/** Runs a command with a progress display and closes the display however the command ends. */
export async function withProgress (progress: Progress, run: () => Promise<number>): Promise<number> {
  let exit = 1
  try {
    exit = await run()
    return exit
  } finally {
    progress.finish(exit)
  }
}
