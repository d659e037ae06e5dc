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
import type { Emit } from './gate.js'

const PATCHED = Symbol.for('hotswap.patched')

type AnyEmit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean

function patchEmit (proto: { emit: AnyEmit } & Record<symbol, unknown>): void {
  if (proto[PATCHED] === true) return
  const original = proto.emit
  const gate = getRuntime().gate
  // Fixed parameters, no rest/spread: this wrapper runs for every event of every server.
  proto.emit = function (this: unknown, event: string | symbol, a?: unknown, b?: unknown): boolean {
    if (event !== 'request') return original.apply(this, arguments as unknown as [string, ...unknown[]])
    gate.admit(this, original as unknown as Emit, a as IncomingMessage, b as ServerResponse)
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
