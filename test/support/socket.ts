// The control socket spoken by hand, in the gem's framing, written apart from src/shared/frames.ts
// so that tests of the wire format do not share a bug with the code under test: frames, a whole
// request, an exchange read to the close, `status --json` and a push without a CLI start-up, and
// a proxy that makes a server look like another container's.

import assert from 'node:assert/strict'
import net from 'node:net'
import type { StatusReport } from './serve.js'
import { sleep } from './wait.js'

/**
 * Splits the whole frames off the front of `buf` with a decoder written apart from
 * src/shared/frames.ts, so tests of the wire format do not share a bug with the code under test.
 */
export function takeFrames (buf: Buffer): { frames: Array<{ channel: number, payload: Buffer }>, rest: Buffer } {
  const frames: Array<{ channel: number, payload: Buffer }> = []
  while (buf.length >= 5) {
    const length = buf.readUInt32BE(1)
    if (buf.length < 5 + length) break
    frames.push({ channel: buf[0] as number, payload: buf.subarray(5, 5 + length) })
    buf = buf.subarray(5 + length)
  }
  return { frames, rest: buf }
}

export function frame (channel: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const header = Buffer.alloc(5)
  header.writeUInt8(channel, 0)
  header.writeUInt32BE(body.length, 1)
  return Buffer.concat([header, body])
}

/** A whole request as the gem's client sends it: control frame, stdin frames, end-of-input. */
export function gemStream (args: string[], stdin?: Buffer, frameSize = 64 * 1024): Buffer {
  const parts = [frame(3, JSON.stringify({ args, tty: false }))]
  if (stdin !== undefined) {
    for (let off = 0; off < stdin.length; off += frameSize) parts.push(frame(0, stdin.subarray(off, off + frameSize)))
    parts.push(frame(0, Buffer.alloc(0)))
  }
  return Buffer.concat(parts)
}

export interface ControlReply { exit: number, error?: string, code?: string }

export interface Exchange {
  stdout: Buffer
  stderr: string
  /** The server's last control frame, or null when the connection closed without one. */
  control: ControlReply | null
  /** Frames on a channel other than 1, 2, 3, or a control frame that is not JSON. */
  oddities: string[]
  /** The server had not closed the connection after `timeoutMs`; the client destroyed it. */
  timedOut: boolean
}

/**
 * Writes `bytes` to the socket and reads frames until the server closes. `halfClose` ends the
 * client's side after the write (the server sees end-of-stream at once); otherwise the client
 * waits up to `timeoutMs` for the server to close. `pieces` splits the write (evenly, or
 * `uneven`ly).
 */
export async function exchange (socketPath: string, bytes: Buffer, opts: { timeoutMs?: number, halfClose?: boolean, pieces?: number, uneven?: boolean } = {}): Promise<Exchange> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    const out: Buffer[] = []
    const oddities: string[] = []
    let stderr = ''
    let control: ControlReply | null = null
    let buf: Buffer = Buffer.alloc(0)
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; socket.destroy() }, opts.timeoutMs ?? 15_000)
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close while we still write; that is an answer too.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') { clearTimeout(timer); reject(err) }
    })
    socket.on('connect', () => {
      const pieces = Math.max(1, opts.pieces ?? 1)
      const size = Math.ceil(bytes.length / pieces)
      for (let off = 0, i = 0; off < bytes.length; i++) {
        // `uneven`: pieces of varying size, so frame boundaries land anywhere inside a write.
        const n = opts.uneven === true ? Math.max(1, Math.round(size * (0.5 + (i % 3) / 2))) : size
        socket.write(bytes.subarray(off, off + n))
        off += n
      }
      if (opts.halfClose === true) socket.end()
    })
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const taken = takeFrames(buf)
      buf = taken.rest
      for (const { channel, payload } of taken.frames) {
        if (channel === 1) out.push(payload)
        else if (channel === 2) stderr += payload.toString('utf8')
        else if (channel === 3) {
          try {
            control = JSON.parse(payload.toString('utf8')) as ControlReply
          } catch {
            oddities.push(`control frame is not JSON: ${payload.toString('utf8').slice(0, 80)}`)
          }
        } else oddities.push(`frame on channel ${String(channel)}`)
      }
    })
    socket.on('close', () => {
      clearTimeout(timer)
      if (buf.length > 0) oddities.push(`${buf.length} byte(s) of an unfinished frame at close`)
      resolve({ stdout: Buffer.concat(out), stderr, control, oddities, timedOut })
    })
  })
}

/** `status --json` over the socket, framed by hand (no CLI start-up per call). */
export async function status (socketPath: string): Promise<StatusReport> {
  const r = await exchange(socketPath, gemStream(['status', '--json']), { timeoutMs: 10_000 })
  assert.equal(r.control?.exit, 0, `status answered: ${r.stderr}`)
  return JSON.parse(r.stdout.toString('utf8')) as StatusReport
}

/** Pushes a file over the socket in the gem's framing; returns the server's reply. */
export async function push (socketPath: string, bytes: Buffer, extraArgs: string[] = [], dst = 'live.sqlite3'): Promise<Exchange> {
  return await exchange(socketPath, gemStream(['cp', '-', dst, ...extraArgs], bytes), { timeoutMs: 60_000 })
}

/** Waits until the server reports at least `n` requests in flight; returns the busy workers. */
export async function waitInFlight (socketPath: string, n: number): Promise<StatusReport['workers']> {
  for (let i = 0; i < 500; i++) {
    const st = await status(socketPath)
    const busy = st.workers.filter((w) => (w.inFlight ?? 0) > 0)
    if (busy.reduce((s, w) => s + (w.inFlight ?? 0), 0) >= n) return busy
    await sleep(20)
  }
  throw new Error(`the server never had ${n} request(s) in flight`)
}

/** Waits until `n` workers are past their handshake and none is starting or dead. */
export async function waitWorkers (socketPath: string, n: number, notPids: number[] = []): Promise<StatusReport['workers']> {
  for (let i = 0; i < 600; i++) {
    const st = await status(socketPath)
    const ok = st.workers.length === n && st.workers.every((w) => !notPids.includes(w.pid) && w.inFlight !== null && (w.state === 'ready' || w.state === 'online'))
    if (ok) return st.workers
    await sleep(25)
  }
  throw new Error(`the server never had ${n} live workers`)
}

/**
 * A socket in front of a server's that makes it report another root directory in
 * `status --json`, so that our client, on the same machine, streams as it does from another
 * container. Every other byte passes through untouched.
 */
export async function otherRootProxy (upstreamPath: string, path: string): Promise<net.Server> {
  const { Channel, encodeFrame, FrameDecoder } = await import('../../src/shared/frames.js')
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPath)
    const decoder = new FrameDecoder()
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        const text = f.channel === Channel.stdout ? f.payload.toString('utf8') : ''
        const rewritten = text.startsWith('{"primary"') ? text.replace('"root":"', '"root":"elsewhere-') : null
        client.write(encodeFrame(f.channel, rewritten ?? f.payload))
      }
    })
    upstream.on('end', () => client.end())
    // The server drops what a refused push still sends (it reads on after its reply); so does
    // this proxy once the server is gone. Left paused by the pipe, it stopped reading, the
    // client's last writes never drained, and its `hotswap cp` never exited.
    upstream.on('close', () => { client.unpipe(upstream); client.resume() })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  return server
}
