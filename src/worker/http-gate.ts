// Puts the gate in front of every HTTP server the app creates in this worker, without the app
// doing anything: the 'request' event of node:http, node:https (which inherits from tls.Server,
// not from http.Server, so it needs its own patch) and http2's compatibility API.
// Upgraded connections (WebSocket) are not requests and are not gated.

import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'
import net from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { getRuntime } from './runtime.js'

const PATCHED = Symbol.for('hotswap.patched')

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean

function patchEmit (proto: { emit: Emit } & Record<symbol, unknown>): void {
  if (proto[PATCHED] === true) return
  const original = proto.emit
  const gate = getRuntime().gate
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'request') return original.call(this, event, ...args)
    const req = args[0] as IncomingMessage
    const res = args[1] as ServerResponse
    gate.admitRequest(req, res, () => { original.call(this, event, ...args) })
    return true
  }
  proto[PATCHED] = true
}

function patchListen (): void {
  const proto = net.Server.prototype as unknown as Record<symbol, unknown> & { listen: (...args: unknown[]) => unknown }
  if (proto[PATCHED] === true) return
  const original = proto.listen
  const servers = getRuntime().servers
  proto.listen = function (this: net.Server, ...args: unknown[]) {
    servers.add(this)
    this.once('close', () => servers.delete(this))
    return original.apply(this, args)
  }
  proto[PATCHED] = true
}

export function installHttpGate (): void {
  patchEmit(http.Server.prototype as never)
  patchEmit(https.Server.prototype as never)
  // http2's server classes are not exported; reach their prototypes through instances that are
  // never listened on.
  try {
    patchEmit(Object.getPrototypeOf(http2.createServer()) as never)
  } catch { /* http2 unavailable: nothing to gate */ }
  try {
    patchEmit(Object.getPrototypeOf(http2.createSecureServer({})) as never)
  } catch { /* same */ }
  patchListen()
}
