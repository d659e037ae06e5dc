// The control socket's wire format, shared with the hotswap gem so that its client works
// unchanged: a frame is 1 byte of channel, a 4-byte big-endian payload length, then the payload.
//
//   client ── control {"args": [...], "tty": bool} ──▶ server   (ours adds protocol, cwd, and
//                                                               source or size for a push)
//   client ── stdin frames … empty stdin frame (EOF) ─▶ server
//   client ◀── stdout / stderr frames ───────────────── server
//   client ◀── control {"exit": N, "error"?: "..."} ─── server

export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  control: 3,
} as const

export type ChannelNumber = typeof Channel[keyof typeof Channel]

export const HEADER_SIZE = 5

/** Protocol version our own client announces; the gem's client sends none. */
export const PROTOCOL_VERSION = 1

export interface Frame {
  channel: ChannelNumber
  payload: Buffer
  /**
   * With `fragments`, a data frame arrives in pieces as its bytes do (slices of the socket's
   * chunks, never copied); every piece but the last of its frame has `more: true`. An empty
   * frame (end-of-input) is always one piece, and no other piece is empty.
   */
  more?: boolean
}

export function encodeFrame (channel: ChannelNumber, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const frame = Buffer.allocUnsafe(HEADER_SIZE + body.length)
  frame.writeUInt8(channel, 0)
  frame.writeUInt32BE(body.length, 1)
  body.copy(frame, HEADER_SIZE)
  return frame
}

/** The header alone, so a large payload can be written after it without a copy. */
export function encodeHeader (channel: ChannelNumber, length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE)
  header.writeUInt8(channel, 0)
  header.writeUInt32BE(length, 1)
  return header
}

export class FrameError extends Error {
  readonly code = 'HOTSWAP_ERR_PROTOCOL'
}

export interface DecoderLimits {
  /** Largest control frame accepted (JSON); anything bigger is malformed. */
  maxControl: number
  /** Largest data frame accepted. */
  maxData: number
  /** Hand data frames (stdin, stdout, stderr) over in pieces as they arrive, without joining them. */
  fragments: boolean
}

const DEFAULT_LIMITS: DecoderLimits = { maxControl: 1024 * 1024, maxData: 64 * 1024 * 1024, fragments: false }

/**
 * Incremental decoder: feed it socket chunks in any split, get whole frames back.
 * Chunks are kept in a list and only joined when a frame spans them, so a large upload
 * is not copied once per chunk.
 */
export class FrameDecoder {
  #chunks: Buffer[] = []
  #buffered = 0
  readonly #limits: DecoderLimits
  /** The data frame being handed over in pieces, and how many of its bytes are still to come. */
  #open: { channel: ChannelNumber, remaining: number } | null = null

  constructor (limits: Partial<DecoderLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits }
  }

  get buffered (): number {
    return this.#buffered
  }

  /** Returns every complete frame now available; throws FrameError on a malformed header. */
  push (chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#buffered += chunk.length
    }
    const frames: Frame[] = []
    for (;;) {
      const open = this.#open
      if (open !== null) {
        if (this.#buffered === 0) break
        const take = Math.min((this.#chunks[0] as Buffer).length, open.remaining)
        open.remaining -= take
        frames.push({ channel: open.channel, payload: this.#consume(take), more: open.remaining > 0 })
        if (open.remaining === 0) this.#open = null
        continue
      }
      if (this.#buffered < HEADER_SIZE) break
      const header = this.#peek(HEADER_SIZE)
      const channel = header.readUInt8(0)
      const length = header.readUInt32BE(1)
      if (channel > Channel.control) throw new FrameError(`unknown channel ${channel}`)
      const limit = channel === Channel.control ? this.#limits.maxControl : this.#limits.maxData
      if (length > limit) throw new FrameError(`frame of ${length} bytes on channel ${channel} exceeds the limit of ${limit}`)
      if (this.#limits.fragments && channel !== Channel.control && length > 0) {
        this.#consume(HEADER_SIZE)
        this.#open = { channel: channel as ChannelNumber, remaining: length }
        continue
      }
      if (this.#buffered < HEADER_SIZE + length) break
      this.#consume(HEADER_SIZE)
      frames.push({ channel: channel as ChannelNumber, payload: this.#consume(length) })
    }
    return frames
  }

  #peek (n: number): Buffer {
    const first = this.#chunks[0]
    if (first !== undefined && first.length >= n) return first.subarray(0, n)
    // A header split over small chunks (a client writing a byte at a time) is joined once into
    // the first chunk. Concatenating the whole list on every push made decoding quadratic: a
    // 10 KB control frame sent a byte per write held the primary's event loop for 7 s.
    let joined = 0
    let count = 0
    while (joined < n) joined += (this.#chunks[count++] as Buffer).length
    const head = Buffer.concat(this.#chunks.slice(0, count), joined)
    this.#chunks.splice(0, count, head)
    return head.subarray(0, n)
  }

  #consume (n: number): Buffer {
    if (n === 0) return Buffer.alloc(0)
    const first = this.#chunks[0] as Buffer
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return first.subarray(0, n)
    }
    if (first.length === n) {
      this.#chunks.shift()
      this.#buffered -= n
      return first
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    let used = 0
    while (filled < n) {
      const chunk = this.#chunks[used] as Buffer
      const take = Math.min(chunk.length, n - filled)
      chunk.copy(out, filled, 0, take)
      filled += take
      if (take === chunk.length) used++
      else this.#chunks[used] = chunk.subarray(take)
    }
    // One splice, not a shift per chunk: a frame that arrived in 50,000 one-byte chunks took
    // 5 s of shifting a long array.
    this.#chunks.splice(0, used)
    this.#buffered -= n
    return out
  }
}

export interface ControlRequest {
  args: string[]
  tty: boolean
  /** Our client's protocol version; absent from the gem's client. */
  protocol?: number
  /** Our client's working directory, so relative paths resolve where the user typed them. */
  cwd?: string
  /** For `cp FILE LIVE` sent as a path: the file the client means (checked before any copy). */
  source?: FileIdentity
  /**
   * For a streamed push: how many bytes the client will send, when it knows (a regular file).
   * The server checks the room for them before receiving any; the gem's client sends none.
   */
  size?: number
}

export interface FileIdentity {
  dev: number
  ino: number
}

export interface ControlReply {
  exit: number
  error?: string
  code?: string
}

/** Parses and checks the first control frame; throws FrameError when it is not usable. */
export function parseControlRequest (payload: Buffer): ControlRequest {
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new FrameError('the control frame is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameError('the control frame must be a JSON object')
  }
  const obj = value as Record<string, unknown>
  const args = obj.args ?? []
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new FrameError('"args" must be an array of strings')
  }
  const request: ControlRequest = { args: args as string[], tty: obj.tty === true }
  if (typeof obj.protocol === 'number') request.protocol = obj.protocol
  if (typeof obj.cwd === 'string') request.cwd = obj.cwd
  const source = obj.source as Record<string, unknown> | null | undefined
  if (typeof source === 'object' && source !== null && Number.isSafeInteger(source.dev) && Number.isSafeInteger(source.ino)) {
    request.source = { dev: source.dev as number, ino: source.ino as number }
  }
  if (Number.isSafeInteger(obj.size) && (obj.size as number) >= 0) request.size = obj.size as number
  return request
}
