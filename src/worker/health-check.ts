// The watchdog's HTTP check (`serve --health-check PATH`), run inside the worker it checks.
// node:cluster shares one port among the workers, so a GET from the primary would reach any
// one of them; instead the worker hands a connection of its own to the app's server (the
// 'connection' event takes any Duplex stream, node's http docs say) and reads the status line.
// The request goes through the app's handler (and the gate) as a client's would.
//
//   primary ─IPC hotswap:health─▶ worker: pair of streams ─▶ app server.emit('connection')
//                                          "GET PATH HTTP/1.1" ─▶ app ─▶ "HTTP/1.1 200" ─▶ status

import http from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { HealthValue } from '../shared/messages.js'
import { getRuntime } from './runtime.js'

/** Two Duplex streams, each reading what the other writes: an in-memory connection. */
function streamPair (): [Duplex, Duplex] {
  let a: Duplex | undefined
  let b: Duplex | undefined
  const make = (other: () => Duplex | undefined): Duplex => new Duplex({
    read () {},
    write (chunk, _enc, cb) { other()?.push(chunk); cb() },
    final (cb) { other()?.push(null); cb() },
    destroy (err, cb) { other()?.destroy(); cb(err) },
  })
  a = make(() => b)
  b = make(() => a)
  return [a, b]
}

/** The app's HTTP(S) server in this worker: the first one listening. */
function appServer (): net.Server | undefined {
  return [...getRuntime().servers].find((s) => (s instanceof http.Server || s instanceof https.Server) && s.listening)
}

export async function healthCheck (path: string, timeoutMs: number): Promise<HealthValue> {
  const server = appServer()
  if (server === undefined) return { status: null, error: 'the app has no HTTP server listening in this worker' }
  const [client, serverSide] = streamPair()
  let conn: Duplex = client
  if (server instanceof https.Server) {
    // The app's own certificate, whatever it is: this is the app talking to itself.
    conn = tls.connect({ socket: client, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
  }
  return await new Promise<HealthValue>((resolve) => {
    let head = ''
    let settled = false
    const done = (v: HealthValue): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      conn.destroy()
      serverSide.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done({ status: null, error: `no response within ${timeoutMs} ms` }), timeoutMs)
    conn.on('error', (err) => done({ status: null, error: err.message }))
    conn.on('data', (d: Buffer) => {
      head += d.toString('latin1')
      const end = head.indexOf('\r\n')
      if (end < 0) return
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, end))
      done(m === null ? { status: null, error: `not an HTTP response: ${JSON.stringify(head.slice(0, 80))}` } : { status: Number(m[1]) })
    })
    // Ended, or destroyed by the app (req.socket.destroy()): either way, no status line came.
    for (const event of ['end', 'close']) conn.on(event, () => done({ status: null, error: 'the app closed the connection without a response' }))
    server.emit('connection', serverSide)
    conn.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hotswap-health-check\r\nConnection: close\r\n\r\n`)
  })
}
