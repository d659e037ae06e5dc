// The control server: a Unix socket that speaks the hotswap gem's framing.
//
//   accept ─▶ first frame: control {"args", "tty"} (10 s) ─▶ command(session)
//     stdin frames ─▶ session.stdin (Readable; the socket pauses when it is full)
//     session.stdout/stderr ─▶ frames ─▶ client;   end: control {"exit": N, "error"?, "code"?}
//
// A malformed frame, or anything a command throws, ends that connection only. A client that
// announces no protocol of ours (the gem's) reads the gem's words (gem-words.ts); ours reads
// "ERROR [CODE] message". The socket lives in a 0700 directory with mode 0600; a live socket is
// never stolen, a stale one is replaced.

import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import { Readable } from 'node:stream'
import { Channel, FrameDecoder, FrameError, parseControlRequest, type ControlReply, type ControlRequest } from '../shared/frames.js'
import { HotswapError, toHotswapError } from '../shared/errors.js'
import { roomFor, writeFrame } from '../shared/frame-socket.js'
import type { Logger } from '../shared/logger.js'
import { workingDirectory } from '../shared/working-directory.js'
import { commands, type ServerContext, type Session } from './control-commands.js'
import { gemErrorText, speaksGem } from './gem-words.js'

const FIRST_FRAME_TIMEOUT_MS = 10_000
/** A UTF-16 surrogate that is not half of a pair (in a `u` regex a pair is one code point). */
const LONE_SURROGATE = /\p{Cs}/u

export interface ControlServerOptions {
  socketPath: string
  context: ServerContext
  logger: Logger
  /** An upload with no bytes for this long is aborted. */
  idleTimeoutMs: number
}

/** Makes sure the socket directory is ours and private, and that no live server owns the path. */
export async function prepareSocketPath (socketPath: string): Promise<void> {
  const dir = dirname(socketPath)
  let st
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    st = statSync(dir)
  } catch (err) {
    // A path through a file, or a directory we may not create: a bad --socket, not INTERNAL.
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create the socket directory ${dir}: ${(err as Error).message}`)
  }
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) {
    throw new HotswapError('HOTSWAP_ERR_SOCKET_UNSAFE', `the socket directory ${dir} is owned by uid ${st.uid}, not by this user (${uid})`)
  }
  if ((st.mode & 0o022) !== 0) {
    throw new HotswapError('HOTSWAP_ERR_SOCKET_UNSAFE',
      `the socket directory ${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}); use a private directory (chmod 700)`)
  }
  let existing
  try {
    existing = lstatSync(socketPath)
  } catch {
    return
  }
  if (!existing.isSocket()) {
    throw new HotswapError('HOTSWAP_ERR_SOCKET_IN_USE', `${socketPath} exists and is not a socket; refusing to replace it`)
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (alive) {
    throw new HotswapError('HOTSWAP_ERR_SOCKET_IN_USE', `another hotswap server is listening on ${socketPath}`)
  }
  unlinkSync(socketPath) // Stale: its server is gone.
}

/** What shutdown needs of a connection. */
interface Connection {
  /** Its command has sent its reply (or it never had one to run). */
  finished: () => boolean
  /** Shutdown: an upload still arriving is aborted; a connection with no command yet is closed. */
  interrupt: () => void
  /** Ends the connection with a reply, unless it has one already. */
  fail: (err: unknown) => void
  /** Settles once the connection is closed, or its reply is written out and our side ended. */
  closed: Promise<void>
}

/** A name from outside, shown in a message or a log line without echoing a megabyte back. */
function shown (name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)
}

export class ControlServer {
  readonly #opts: ControlServerOptions
  readonly #server: net.Server
  readonly #connections = new Map<net.Socket, Connection>()
  /**
   * Where the gem's relative paths resolve: the server's working directory, taken by name once.
   * process.cwd() would name an old release's directory after a symlink switch, and throw once
   * that release is pruned.
   */
  readonly #cwd = workingDirectory()
  #closing = false

  constructor (opts: ControlServerOptions) {
    this.#opts = opts
    // Half-open: a client may shut its writing side after end-of-input (socat, nc -U) and still
    // read the reply; the server ends each connection itself once the command is done.
    this.#server = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket))
  }

  async listen (): Promise<void> {
    await prepareSocketPath(this.#opts.socketPath)
    // The umask makes the socket 0600 from its creation, not after a chmod race.
    const previous = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', (err) => reject(new HotswapError('HOTSWAP_ERR_CONFIG', `cannot listen on ${this.#opts.socketPath}: ${err.message}`)))
        this.#server.listen(this.#opts.socketPath, () => {
          this.#server.removeAllListeners('error')
          // An accept that fails later (EMFILE) is an 'error' event: unheard, it exits the primary.
          this.#server.on('error', (err) => this.#opts.logger.error(`control socket: ${err.message}`))
          resolve()
        })
      })
    } finally {
      process.umask(previous)
    }
    chmodSync(this.#opts.socketPath, 0o600)
    this.#opts.logger.info(`control socket listening on ${this.#opts.socketPath}`)
  }

  /** Stops accepting new connections and removes the socket file; open ones stay. */
  stopAccepting (): void {
    this.#closing = true
    this.#server.close()
    try { unlinkSync(this.#opts.socketPath) } catch { /* already gone */ }
  }

  /**
   * Shutdown, with the swap lock held (no swap is under way, none can start): uploads still
   * arriving are aborted, and every command's reply gets out before its connection closes. A
   * finished swap's "OK" and exit frame must reach the client: destroying the connections at
   * once turned a swap that happened into CONNECTION_LOST and exit 1. Bounded: after `graceMs`
   * the commands still running are refused, and after as long again whatever is left is cut.
   */
  async closeConnections (graceMs: number): Promise<void> {
    for (const c of this.#connections.values()) c.interrupt()
    const allClosed = async (ms: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all([...this.#connections.values()].map(async (c) => await c.closed)),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) }),
      ])
      clearTimeout(timer)
    }
    await allClosed(graceMs)
    for (const c of this.#connections.values()) {
      if (!c.finished()) c.fail(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down'))
    }
    await allClosed(graceMs)
    for (const socket of this.#connections.keys()) socket.destroy()
  }

  #accept (socket: net.Socket): void {
    const log = this.#opts.logger
    // Upload bytes go to the command as slices of the socket's own chunks, never joined.
    const decoder = new FrameDecoder({ fragments: true })
    let request: ControlRequest | null = null
    let closed = false
    let finished = false
    let stdinEnded = false
    // Our client (protocol ≥ 1) keeps its side open until the reply, so its end means it is gone
    // (killed, Ctrl-C): a push not yet at the swap is cancelled. The gem's client and `nc -U`
    // may half-close after end-of-input, so for them only a full close cancels.
    let peerEnded = false
    const isCancelled = (): boolean => closed || (peerEnded && (request?.protocol ?? 0) >= 1)

    // Object mode: a reader gets each slice as it came, where a byte stream would join whatever
    // is buffered into a new buffer at every read. Up to 64 slices (~4 MiB) wait here.
    const stdin = new Readable({
      objectMode: true,
      highWaterMark: 64,
      read: () => { socket.resume() },
    })
    stdin.on('error', () => {}) // Errors reach the command through its pipeline.

    const write = (channel: 0 | 1 | 2 | 3, data: Buffer | string): boolean => {
      if (closed || socket.destroyed) return true
      return writeFrame(socket, channel, data)
    }
    const finish = (reply: ControlReply): void => {
      if (finished) return
      finished = true
      write(Channel.control, JSON.stringify(reply))
      socket.end()
      // A refused push (too large, disk full) may still be sending: read and drop the rest.
      // Left paused by backpressure, the socket stopped reading, the client's writes never
      // drained, and `hotswap cp` hung after printing the error.
      socket.removeAllListeners('data')
      socket.resume()
    }
    const fail = (err: unknown, exit = 1): void => {
      if (finished) return
      const e = toHotswapError(err)
      // Our client reads coded lines; any other (the gem's, or one whose first frame could not
      // be read) the gem's words. The control frame carries the code for both.
      const text = speaksGem(request?.protocol)
        ? gemErrorText(e, this.#opts.context.databases)
        : [`ERROR [${e.code}] ${e.message}`, ...e.details.map((d) => `  ${d}`)].join('\n') + '\n'
      write(Channel.stderr, text)
      finish({ exit, error: e.message, code: e.code })
    }
    // Nothing thrown on this connection's behalf may reach the event loop: an exception in a
    // socket listener exits the primary, and every worker with it. It ends this connection only.
    const crashed = (err: unknown): void => {
      log.error(`control connection: internal error: ${err instanceof Error ? err.message : String(err)}`, { stack: err instanceof Error ? err.stack : undefined })
      try {
        fail(err)
      } catch {
        socket.destroy()
      }
    }
    const guard = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
      try {
        fn(...args)
      } catch (err) {
        crashed(err)
      }
    }
    const abort = (err: Error): void => {
      if (!stdinEnded) stdin.destroy(err)
    }

    let onClosed = (): void => {}
    const closedPromise = new Promise<void>((resolve) => { onClosed = resolve })
    // The reply is out once our side has ended and flushed ('finish'): a client that keeps its
    // side open after reading it (nc -U) must not hold the shutdown for the whole grace.
    socket.once('finish', () => onClosed())
    this.#connections.set(socket, {
      finished: () => finished,
      interrupt: () => {
        if (request === null) socket.destroy()
        else abort(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down; the upload was not finished, nothing was changed'))
      },
      fail: (err) => { try { fail(err) } catch { socket.destroy() } },
      closed: closedPromise,
    })

    socket.setTimeout(FIRST_FRAME_TIMEOUT_MS)
    socket.on('timeout', guard(() => {
      const err = new HotswapError('HOTSWAP_ERR_TIMEOUT', request === null
        ? `no command within ${FIRST_FRAME_TIMEOUT_MS} ms`
        : `the upload was idle for ${this.#opts.idleTimeoutMs} ms`)
      log.warn(`control connection: ${err.message}`)
      if (request === null) {
        fail(err, 2)
        socket.destroy()
      } else {
        stdin.destroy(err)
      }
    }))
    socket.on('close', guard(() => {
      closed = true
      this.#connections.delete(socket)
      onClosed()
      abort(new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before end-of-input; nothing was changed'))
    }))
    socket.on('end', guard(() => {
      peerEnded = true
      abort(new HotswapError('HOTSWAP_ERR_ABORTED', 'the client stopped sending before end-of-input; nothing was changed'))
      if (request === null) socket.end()
    }))
    socket.on('error', (err) => log.debug(`control connection error: ${err.message}`))

    socket.on('data', guard((chunk: Buffer) => {
      let frames
      try {
        frames = decoder.push(chunk)
      } catch (err) {
        socket.removeAllListeners('data')
        const e = err instanceof FrameError ? new HotswapError('HOTSWAP_ERR_PROTOCOL', err.message) : err
        log.warn(`control connection: malformed frame: ${(e as Error).message}`)
        if (request === null) fail(e, 2)
        else stdin.destroy(e as Error)
        // No destroy here: fail() ends the connection and drops what still comes in. Destroying
        // it with the client's bytes unread made a client still writing get EPIPE and lose the
        // error frame (a Node client tears the socket down on a failed write).
        return
      }
      for (const frame of frames) {
        if (request === null) {
          if (frame.channel !== Channel.control) {
            fail(new HotswapError('HOTSWAP_ERR_PROTOCOL', `the first frame must be a control frame (got channel ${frame.channel})`), 2)
            return
          }
          try {
            request = parseControlRequest(frame.payload)
          } catch (err) {
            fail(new HotswapError('HOTSWAP_ERR_PROTOCOL', (err as Error).message), 2)
            return
          }
          socket.setTimeout(this.#opts.idleTimeoutMs)
          this.#run(request, socket, stdin, write, fail, finish, isCancelled)
          if (finished) return
        } else if (frame.channel === Channel.stdin) {
          if (stdinEnded) continue
          if (frame.payload.length === 0) {
            stdinEnded = true
            stdin.push(null)
          } else if (!stdin.push(frame.payload)) {
            socket.pause()
          }
        }
        // Other frames after the command are ignored, as the gem's server does.
      }
    }))
  }

  #run (
    request: ControlRequest,
    socket: net.Socket,
    stdin: Readable,
    write: (channel: 0 | 1 | 2 | 3, data: Buffer | string) => boolean,
    fail: (err: unknown, exit?: number) => void,
    finish: (reply: ControlReply) => void,
    isClosed: () => boolean,
  ): void {
    const log = this.#opts.logger
    const name = request.args[0] ?? 'help'
    log.info(`command: ${request.args.map((a) => a.length > 200 ? `${a.slice(0, 200)}…` : a).join(' ')}`)
    if (this.#closing) {
      stdin.resume()
      fail(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down'))
      return
    }
    // A lone surrogate (JSON "\ud800") names two files: fs writes it as U+FFFD, SQLite as its
    // own bytes. A pull to such a name renamed an empty file into place, said OK, and left the
    // whole snapshot behind under a temp name. Such a word is refused before anything runs.
    const unpaired = [...request.args, request.cwd ?? ''].findIndex((a) => LONE_SURROGATE.test(a))
    if (unpaired !== -1) {
      stdin.resume()
      const what = unpaired < request.args.length ? `argument ${unpaired + 1}` : 'the working directory (cwd)'
      fail(new HotswapError('HOTSWAP_ERR_USAGE', `${what} is not valid Unicode (an unpaired UTF-16 surrogate); paths must be UTF-8 text`), 2)
      return
    }
    const command = commands.get(name)
    if (command === undefined) {
      stdin.resume()
      fail(new HotswapError('HOTSWAP_ERR_USAGE', `unknown command ${shown(name)} (commands: ${[...commands.keys()].join(', ')})`), 2)
      return
    }
    const session: Session = {
      args: request.args,
      cwd: request.cwd ?? this.#cwd,
      tty: request.tty,
      gem: speaksGem(request.protocol),
      source: request.source,
      stdin,
      stdout: async (data) => {
        write(Channel.stdout, data)
        await roomFor(socket, 4 * 1024 * 1024)
      },
      stderr: (text) => { write(Channel.stderr, text) },
      isClosed,
      uploadDone: () => { socket.setTimeout(0) },
    }
    // A command that throws before its first await, or is not async at all, fails the same way
    // as one whose promise rejects: on this connection only.
    let running: Promise<number>
    try {
      running = command(session, this.#opts.context)
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(
      (exit) => finish({ exit }),
      (err: unknown) => {
        const e = toHotswapError(err)
        if (e.code === 'HOTSWAP_ERR_INTERNAL') log.error(`command ${name} failed: ${e.message}`, { stack: err instanceof Error ? err.stack : undefined })
        else log.warn(`command ${name} failed: [${e.code}] ${e.message}`)
        fail(e, e.code === 'HOTSWAP_ERR_USAGE' ? 2 : 1)
      },
    ).catch((err: unknown) => {
      // The reply itself failed (a socket torn down while writing): nothing left to tell.
      log.error(`command ${name}: the reply failed: ${err instanceof Error ? err.message : String(err)}`)
      socket.destroy()
    })
  }
}
