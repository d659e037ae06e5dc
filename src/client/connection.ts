// The client side of the control socket: sends one command, streams stdin frames when asked,
// and hands stdout/stderr frames to the caller until the server's control frame says how it
// ended. Works against our server and speaks exactly the gem's framing.

import net from 'node:net'
import type { Readable } from 'node:stream'
import { Channel, encodeFrame, FrameDecoder, PROTOCOL_VERSION, type ControlReply, type ControlRequest, type FileIdentity } from '../shared/frames.js'
import { ExitCodes, formatError, HotswapError } from '../shared/errors.js'
import { roomFor, writeFrame } from '../shared/frame-socket.js'
import { socketPathProblem } from '../shared/socket-path.js'

const CHUNK = 1024 * 1024
/** How much of the upload may wait in the socket's buffer (see roomFor). */
const MAX_QUEUED = 4 * 1024 * 1024

export interface RemoteOptions {
  socketPath: string
  args: string[]
  tty: boolean
  /** Sent as stdin frames, then an empty frame (end-of-input). */
  stdin?: Readable
  /** The local file a path argument names, for the server to check it sees the same one. */
  source?: FileIdentity
  /** How many bytes `stdin` holds, when known (a regular file): the server checks the room first. */
  size?: number | null
  /** May return a promise: the socket is paused until it settles (backpressure). */
  onStdout: (chunk: Buffer) => void | Promise<void>
  onStderr: (chunk: Buffer) => void
  /** Ends the command from this side (a `logs --follow` monit no longer reads): the connection is closed, the call resolves. */
  signal?: AbortSignal
}

/** An `onStdout` that writes the server's stdout frames to ours, the socket waiting on a full pipe. */
export function forwardStdout (c: Buffer): void | Promise<void> {
  if (process.stdout.write(c)) return
  return new Promise<void>((resolve) => process.stdout.once('drain', resolve))
}

export async function runRemote (opts: RemoteOptions): Promise<ControlReply> {
  // Every client command comes through here: a path the kernel would cut short is refused.
  const tooLong = socketPathProblem(opts.socketPath)
  if (tooLong !== null) throw new HotswapError('HOTSWAP_ERR_USAGE', tooLong)
  const socket = net.connect(opts.socketPath)
  let reply: ControlReply | null = null
  let closed = false

  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new HotswapError('HOTSWAP_ERR_NO_SERVER',
          `no hotswap server is listening on ${opts.socketPath} (is \`hotswap serve\` running? set --socket or HOTSWAP_SOCKET)`))
      } else {
        reject(new HotswapError('HOTSWAP_ERR_CONNECTION_LOST', `cannot connect to ${opts.socketPath}: ${err.message}`))
      }
    })
  })
  await connected
  socket.on('error', () => {}) // Reported through 'close' without a reply.

  const done = new Promise<ControlReply>((resolve, reject) => {
    // A pull's bytes are handed on as slices of the socket's chunks, never joined into frames.
    const decoder = new FrameDecoder({ maxData: 64 * 1024 * 1024, fragments: true })
    let queue: Promise<void> = Promise.resolve()
    let pending = 0
    socket.on('data', (chunk: Buffer) => {
      let frames
      try {
        frames = decoder.push(chunk)
      } catch (err) {
        socket.destroy()
        reject(new HotswapError('HOTSWAP_ERR_PROTOCOL', `the server sent a malformed frame: ${(err as Error).message}`))
        return
      }
      for (const frame of frames) {
        if (frame.channel === Channel.stdout) {
          // Handed over in order. A sink that takes the bytes at once (a file) is called right
          // away; one that asks to wait (a full pipe) holds the socket until it is ready.
          const payload = frame.payload
          if (pending === 0) {
            let waiting: void | Promise<void>
            try {
              waiting = opts.onStdout(payload)
            } catch (err) {
              socket.destroy()
              reject(err)
              return
            }
            if (waiting === undefined) continue
            queue = waiting
          } else {
            queue = queue.then(async () => { await opts.onStdout(payload) })
          }
          pending++
          socket.pause()
          queue = queue.then(() => {
            if (--pending === 0) socket.resume()
          })
          queue.catch((err: unknown) => {
            socket.destroy()
            reject(err)
          })
        } else if (frame.channel === Channel.stderr) {
          opts.onStderr(frame.payload)
        } else if (frame.channel === Channel.control) {
          try {
            const parsed = JSON.parse(frame.payload.toString('utf8')) as Partial<ControlReply>
            reply = { exit: typeof parsed.exit === 'number' ? parsed.exit : ExitCodes.failure }
            if (typeof parsed.error === 'string') reply.error = parsed.error
            if (typeof parsed.code === 'string') reply.code = parsed.code
          } catch {
            reply = { exit: ExitCodes.failure, error: 'unreadable control frame from the server' }
          }
          const final = reply
          void queue.then(() => resolve(final), reject)
          socket.end()
          return
        }
      }
    })
    socket.on('close', () => {
      closed = true
      if (reply === null && opts.signal?.aborted === true) {
        resolve({ exit: ExitCodes.ok })
      } else if (reply === null) {
        reject(new HotswapError('HOTSWAP_ERR_CONNECTION_LOST', 'the server closed the connection before the command finished'))
      }
    })
  })

  opts.signal?.addEventListener('abort', () => socket.destroy(), { once: true })
  const request: ControlRequest = { args: opts.args, tty: opts.tty, protocol: PROTOCOL_VERSION, cwd: process.cwd() }
  if (opts.source !== undefined) request.source = opts.source
  if (opts.size !== undefined && opts.size !== null) request.size = opts.size
  socket.write(encodeFrame(Channel.control, JSON.stringify(request)))

  if (opts.stdin !== undefined) {
    const stdin = opts.stdin
    const pump = async (): Promise<void> => {
      try {
        for await (const data of stdin) {
          if (closed || reply !== null) break
          const buf = data as Buffer
          for (let off = 0; off < buf.length; off += CHUNK) {
            writeFrame(socket, Channel.stdin, buf.subarray(off, off + CHUNK))
            await roomFor(socket, MAX_QUEUED)
          }
        }
      } finally {
        if (!closed && reply === null) socket.write(encodeFrame(Channel.stdin, Buffer.alloc(0)))
      }
    }
    pump().catch((err: Error) => {
      // Stopped below, once the reply came or the connection went away (which `done` reports).
      if (reply !== null || closed) return
      // The source failed mid-way: closing without end-of-input aborts the push server-side.
      socket.destroy()
      process.stderr.write(formatError(new HotswapError('HOTSWAP_ERR_SOURCE', `reading the source failed: ${err.message}`)))
    })
  }
  try {
    return await done
  } finally {
    // The reply came (or the connection is gone) while stdin may still be open, a pipe that never
    // ends (a held commit's stdin, a push refused before its upload): stop reading it, or this
    // process waits on it forever.
    if (opts.stdin !== undefined && !opts.stdin.readableEnded) opts.stdin.destroy()
  }
}
