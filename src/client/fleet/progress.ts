// The progress of a fleet cp on stderr, when stderr is a terminal (nothing at all when it is not:
// scripts see the summary line alone). One line per host, redrawn in place as it goes on:
//
//   host1  push 12.0 MiB / 40.0 MiB (30%), 85.1 MiB/s, ETA 0.3 s     ← its bytes, as they leave
//   host2  push 40.0 MiB in 0.5 s (80.0 MiB/s), validating…          ← all sent; its checks run
//   host3  voted sha256:0123456789ab (checked against generation 4)  ← staged, its vote counted
//   host1  ready ─▶ paused (its requests queue) ─▶ switching ─▶ switched
//   host2  refused: HOTSWAP_ERR_SCHEMA_MISMATCH …                   ← any failure, in place
//
// The byte, rate and ETA wording is the local cp's (../progress.ts); a redraw moves the cursor up
// over the block (each line cut to the terminal's width, so none wraps) and rewrites it.

import { formatProgress, formatTransferred, type ProgressStream } from '../progress.js'

/** What stage.ts tells about one host's stage while it runs. */
export interface StageWatch {
  /** `n` more bytes read from the source for this host. */
  sent: (n: number) => void
  /** Every byte sent: the host checks the file. */
  validating: () => void
}

export interface FleetProgressOptions {
  stream?: ProgressStream
  now?: () => number
  /** Least time between two redraws for bytes alone (a phase redraws at once). */
  intervalMs?: number
}

interface HostLine {
  text: string
  bytes: number
  firstByteAt: number | null
  sentAt: number | null
}

export class FleetProgress {
  readonly enabled: boolean
  readonly #stream: ProgressStream
  readonly #now: () => number
  readonly #intervalMs: number
  readonly #total: number
  readonly #hosts: Map<string, HostLine>
  readonly #width: number
  /** Lines of the block on screen (the cursor is below them). */
  #drawn = 0
  #lastDraw = -Infinity
  #timer: NodeJS.Timeout | undefined
  #ended = false

  constructor (hosts: string[], total: number, opts: FleetProgressOptions = {}) {
    this.#stream = opts.stream ?? process.stderr
    this.enabled = this.#stream.isTTY === true
    this.#now = opts.now ?? (() => performance.now())
    this.#intervalMs = opts.intervalMs ?? 100
    this.#total = total
    this.#width = Math.max(...hosts.map((h) => h.length))
    this.#hosts = new Map(hosts.map((h) => [h, { text: 'connecting', bytes: 0, firstByteAt: null, sentAt: null }]))
  }

  /** The watch stage.ts reports a host's bytes to (a no-op one when not on a terminal). */
  stage (host: string): StageWatch | undefined {
    if (!this.enabled) return undefined
    const line = this.#hosts.get(host)
    if (line === undefined) return undefined
    const state = (): Parameters<typeof formatProgress>[0] => {
      const end = line.sentAt ?? this.#now()
      return { direction: 'push', bytes: line.bytes, total: this.#total, elapsedMs: end - (line.firstByteAt ?? end) }
    }
    return {
      sent: (n) => {
        if (line.sentAt !== null) return
        line.firstByteAt ??= this.#now()
        line.bytes += n
        line.text = formatProgress(state())
        this.#soon()
      },
      validating: () => {
        if (line.sentAt !== null) return
        line.sentAt = this.#now()
        this.set(host, `${formatTransferred(state())}, validating…`)
      },
    }
  }

  /** The host's line says `text` now (redrawn at once). */
  set (host: string, text: string): void {
    const line = this.#hosts.get(host)
    if (!this.enabled || this.#ended || line === undefined || line.text === text) return
    line.text = text
    this.#draw()
  }

  /**
   * No more drawing; the block stays on screen, above whatever is printed next (the bytes of a
   * throttled redraw drawn first). Nothing is drawn after it: a redraw then would move up over
   * the lines printed below the block.
   */
  end (): void {
    if (!this.enabled || this.#ended) return
    if (this.#timer !== undefined) this.#draw()
    clearTimeout(this.#timer)
    this.#ended = true
  }

  /** Bytes redraw at most every intervalMs (a timer draws the last of them). */
  #soon (): void {
    if (this.#now() - this.#lastDraw >= this.#intervalMs) { this.#draw(); return }
    this.#timer ??= setTimeout(() => { if (!this.#ended) this.#draw() }, this.#intervalMs).unref()
  }

  #draw (): void {
    const columns = this.#stream.columns ?? 0
    const width = columns > 20 ? columns - 1 : 79
    const lines = [...this.#hosts].map(([name, l]) => `${name.padEnd(this.#width)}  ${l.text}`.slice(0, width))
    this.#stream.write(`${this.#drawn > 0 ? `\x1b[${this.#drawn}A` : ''}${lines.map((l) => `\r${l}\x1b[K\n`).join('')}`)
    this.#drawn = lines.length
    this.#lastDraw = this.#now()
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
