// One connection to the control socket, in one state, changed in one method (#enter):
//
//   awaiting-command ─first frame: control {"args", "tty"}─▶ running ─reply─▶ finished
//          └── no command in 10 s, a malformed first frame: an error reply ──▶ finished
//   any state ── the socket closes ──▶ closed
//
//   running: stdin frames ─▶ session.stdin (stdin-frames.ts; the socket pauses when it is full)
//            session.stdout/stderr ─▶ frames ─▶ client;   end: control {"exit": N, "error"?, "code"?}
//
// A malformed frame, or anything a command throws, ends this connection only. A client that
// announces no protocol of ours (the gem's) reads the gem's words (gem-words.ts); ours reads
// "ERROR [CODE] message" (shared/errors.ts formatError).

import type net from 'node:net'
import { Channel, FrameDecoder, FrameError, parseControlRequest, type ControlReply, type ControlRequest } from '../../shared/frames.js'
import { ExitCodes, exitCodeOf, formatError, HotswapError, toHotswapError } from '../../shared/errors.js'
import { roomFor, writeFrame } from '../../shared/frame-socket.js'
import type { Logger } from '../../shared/logger.js'
import { commands } from './commands/index.js'
import { gemErrorText, speaksGem } from './gem-words.js'
import { shown, type ServerContext, type Session } from './session.js'
import { StdinFrames } from './stdin-frames.js'

/** Commands a client repeats on a timer: logged at debug. */
const POLLS = new Set(['monit'])

const FIRST_FRAME_TIMEOUT_MS = 10_000
/** A UTF-16 surrogate that is not half of a pair (in a `u` regex a pair is one code point). */
const LONE_SURROGATE = /\p{Cs}/u

export type ConnectionState = 'awaiting-command' | 'running' | 'finished' | 'closed'

/** Where each state may go; any other change is refused (a second reply is never sent). */
const NEXT: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  'awaiting-command': ['running', 'finished', 'closed'],
  running: ['finished', 'closed'],
  finished: ['closed'],
  closed: [],
}

export interface ConnectionOptions {
  context: ServerContext
  logger: Logger
  /** An upload with no bytes for this long is aborted. */
  idleTimeoutMs: number
  /** Where the gem's relative paths resolve (the server's working directory, by name). */
  cwd: string
  /** The server is shutting down: a command that arrives now is refused. */
  isClosing: () => boolean
  /** Called once, when the socket has closed. */
  onClose: () => void
}

export class Connection {
  readonly #socket: net.Socket
  readonly #opts: ConnectionOptions
  // Upload bytes go to the command as slices of the socket's own chunks, never joined.
  readonly #decoder = new FrameDecoder({ fragments: true })
  readonly #stdin: StdinFrames
  #state: ConnectionState = 'awaiting-command'
  /** The first frame, once read (it stays null when that frame was refused). */
  #request: ControlRequest | null = null
  /**
   * The client ended its side. Our client (protocol ≥ 1) keeps it open until the reply, so its
   * end means it is gone (killed, Ctrl-C): a push not yet at the swap is cancelled. The gem's
   * client and `nc -U` may half-close after end-of-input, so for them only a full close cancels.
   */
  #peerEnded = false
  /**
   * Settles once the connection is closed, or its reply is written out and our side ended
   * ('finish'): a client that keeps its side open after reading it (nc -U) must not hold the
   * shutdown for the whole grace.
   */
  readonly closed: Promise<void>

  constructor (socket: net.Socket, opts: ConnectionOptions) {
    this.#socket = socket
    this.#opts = opts
    this.#stdin = new StdinFrames(socket)
    let onClosed = (): void => {}
    this.closed = new Promise<void>((resolve) => { onClosed = resolve })
    socket.once('finish', () => onClosed())

    const log = opts.logger
    socket.setTimeout(FIRST_FRAME_TIMEOUT_MS)
    socket.on('timeout', this.#guard(() => this.#onTimeout()))
    socket.on('close', this.#guard(() => {
      this.#enter('closed')
      opts.onClose()
      onClosed()
      this.#stdin.abort(new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before end-of-input; nothing was changed'))
    }))
    socket.on('end', this.#guard(() => {
      this.#peerEnded = true
      this.#stdin.abort(new HotswapError('HOTSWAP_ERR_ABORTED', 'the client stopped sending before end-of-input; nothing was changed'))
      if (this.#request === null) socket.end()
    }))
    socket.on('error', (err) => log.debug(`control connection error: ${err.message}`))
    socket.on('data', this.#guard((chunk: Buffer) => this.#onData(chunk)))
  }

  get state (): ConnectionState {
    return this.#state
  }

  /** The command it runs (its first word), once its first frame is read. */
  get command (): string | undefined {
    return this.#request?.args[0]
  }

  /** Shutdown: an upload still arriving is aborted; a connection with no command yet is closed. */
  interrupt (): void {
    if (this.#request === null) this.#socket.destroy()
    else this.#stdin.abort(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down; the upload was not finished, nothing was changed'))
  }

  /** Ends the connection with an error reply, unless it has a reply already. */
  refuse (err: unknown): void {
    try {
      this.#fail(err)
    } catch {
      this.#socket.destroy()
    }
  }

  /** The one place the state changes; false (and nothing changes) when `next` is not allowed. */
  #enter (next: ConnectionState): boolean {
    if (!NEXT[this.#state].includes(next)) return false
    this.#state = next
    return true
  }

  /** The client is gone: disconnected, or (our client) ended its side before the reply. */
  #isCancelled (): boolean {
    return this.#state === 'closed' || (this.#peerEnded && (this.#request?.protocol ?? 0) >= 1)
  }

  #write (channel: 0 | 1 | 2 | 3, data: Buffer | string): boolean {
    if (this.#state === 'closed' || this.#socket.destroyed) return true
    return writeFrame(this.#socket, channel, data)
  }

  #finish (reply: ControlReply): void {
    if (!this.#enter('finished')) return
    const socket = this.#socket
    this.#write(Channel.control, JSON.stringify(reply))
    socket.end()
    // A refused push (too large, disk full) may still be sending: read and drop the rest.
    // Left paused by backpressure, the socket stopped reading, the client's writes never
    // drained, and `hotswap cp` hung after printing the error.
    socket.removeAllListeners('data')
    socket.resume()
  }

  #fail (err: unknown, exit: number = ExitCodes.failure): void {
    if (this.#state === 'finished' || this.#state === 'closed') return
    const e = toHotswapError(err)
    // Our client reads coded lines; any other (the gem's, or one whose first frame could not
    // be read) the gem's words. The control frame carries the code for both.
    const text = speaksGem(this.#request?.protocol)
      ? gemErrorText(e, this.#opts.context.databases)
      : formatError(e)
    this.#write(Channel.stderr, text)
    this.#finish({ exit, error: e.message, code: e.code })
  }

  /**
   * Nothing thrown on this connection's behalf may reach the event loop: an exception in a
   * socket listener exits the primary, and every worker with it. It ends this connection only.
   */
  #guard<A extends unknown[]> (fn: (...args: A) => void): (...args: A) => void {
    return (...args: A): void => {
      try {
        fn(...args)
      } catch (err) {
        this.#opts.logger.error(`control connection: internal error: ${err instanceof Error ? err.message : String(err)}`, { stack: err instanceof Error ? err.stack : undefined })
        this.refuse(err)
      }
    }
  }

  #onTimeout (): void {
    const err = new HotswapError('HOTSWAP_ERR_TIMEOUT', this.#request === null
      ? `no command within ${FIRST_FRAME_TIMEOUT_MS} ms`
      : `the upload was idle for ${this.#opts.idleTimeoutMs} ms`)
    this.#opts.logger.warn(`control connection: ${err.message}`)
    if (this.#request === null) {
      this.#fail(err, ExitCodes.usage)
      this.#socket.destroy()
    } else {
      this.#stdin.stream.destroy(err)
    }
  }

  #onData (chunk: Buffer): void {
    const socket = this.#socket
    let frames
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      socket.removeAllListeners('data')
      const e = err instanceof FrameError ? new HotswapError('HOTSWAP_ERR_PROTOCOL', err.message) : err
      this.#opts.logger.warn(`control connection: malformed frame: ${(e as Error).message}`)
      if (this.#request === null) this.#fail(e, ExitCodes.usage)
      else this.#stdin.stream.destroy(e as Error)
      // No destroy here: #fail() ends the connection and drops what still comes in. Destroying
      // it with the client's bytes unread made a client still writing get EPIPE and lose the
      // error frame (a Node client tears the socket down on a failed write).
      return
    }
    for (const frame of frames) {
      if (this.#request === null) {
        if (frame.channel !== Channel.control) {
          this.#fail(new HotswapError('HOTSWAP_ERR_PROTOCOL', `the first frame must be a control frame (got channel ${frame.channel})`), ExitCodes.usage)
          return
        }
        try {
          this.#request = parseControlRequest(frame.payload)
        } catch (err) {
          this.#fail(new HotswapError('HOTSWAP_ERR_PROTOCOL', (err as Error).message), ExitCodes.usage)
          return
        }
        socket.setTimeout(this.#opts.idleTimeoutMs)
        this.#enter('running')
        this.#run(this.#request)
        if (this.#state !== 'running') return
      } else if (frame.channel === Channel.stdin) {
        if (!this.#stdin.push(frame.payload)) socket.pause()
      }
      // Other frames after the command are ignored, as the gem's server does.
    }
  }

  /** Looks the command up and runs it; its exit status or its error is the reply. */
  #run (request: ControlRequest): void {
    const log = this.#opts.logger
    const ctx = this.#opts.context
    const stdin = this.#stdin.stream
    const name = request.args[0] ?? 'help'
    // A poll (monit asks once a second) at debug: at info it was a log line a second, for ever.
    log.log(POLLS.has(name) ? 'debug' : 'info', `command: ${request.args.map((a) => a.length > 200 ? `${a.slice(0, 200)}…` : a).join(' ')}`)
    if (this.#opts.isClosing()) {
      stdin.resume()
      this.#fail(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down'))
      return
    }
    // A lone surrogate (JSON "\ud800") names two files: fs writes it as U+FFFD, SQLite as its
    // own bytes. A pull to such a name renamed an empty file into place, said OK, and left the
    // whole snapshot behind under a temp name. Such a word is refused before anything runs.
    const unpaired = [...request.args, request.cwd ?? ''].findIndex((a) => LONE_SURROGATE.test(a))
    if (unpaired !== -1) {
      stdin.resume()
      const what = unpaired < request.args.length ? `argument ${unpaired + 1}` : 'the working directory (cwd)'
      this.#fail(new HotswapError('HOTSWAP_ERR_USAGE', `${what} is not valid Unicode (an unpaired UTF-16 surrogate); paths must be UTF-8 text`), ExitCodes.usage)
      return
    }
    const command = commands.get(name)
    if (command === undefined) {
      stdin.resume()
      this.#fail(new HotswapError('HOTSWAP_ERR_USAGE', `unknown command ${shown(name)} (commands: ${[...commands.keys()].join(', ')})`), ExitCodes.usage)
      return
    }
    const socket = this.#socket
    const session: Session = {
      args: request.args,
      cwd: request.cwd ?? this.#opts.cwd,
      tty: request.tty,
      gem: speaksGem(request.protocol),
      source: request.source,
      size: request.size,
      stdin,
      stdout: async (data) => {
        this.#write(Channel.stdout, data)
        await roomFor(socket, 4 * 1024 * 1024)
      },
      stderr: (text) => { this.#write(Channel.stderr, text) },
      isClosed: () => this.#isCancelled(),
      uploadDone: () => { socket.setTimeout(0) },
    }
    // A command that throws before its first await, or is not async at all, fails the same way
    // as one whose promise rejects: on this connection only.
    let running: Promise<number>
    try {
      running = command(session, ctx)
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(
      (exit) => this.#finish({ exit }),
      (err: unknown) => {
        const e = toHotswapError(err)
        if (e.code === 'HOTSWAP_ERR_INTERNAL') log.error(`command ${name} failed: ${e.message}`, { stack: err instanceof Error ? err.stack : undefined })
        else log.warn(`command ${name} failed: [${e.code}] ${e.message}`)
        this.#fail(e, exitCodeOf(e))
      },
    ).catch((err: unknown) => {
      // The reply itself failed (a socket torn down while writing): nothing left to tell.
      log.error(`command ${name}: the reply failed: ${err instanceof Error ? err.message : String(err)}`)
      socket.destroy()
    })
  }
}
