// Where `--metrics` listens: HOST:PORT (127.0.0.1:9464, [::1]:9464, localhost:9464) or a Unix
// socket path (anything with a slash in it: /run/myapp/metrics.sock, ./metrics.sock). Checked at
// the door, so that a bad value stops `serve` before anything starts, with the value named.

import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { socketPathProblem } from '../../shared/socket-path.js'

export type MetricsAddress =
  | { kind: 'tcp', host: string, port: number }
  | { kind: 'unix', path: string }

/** How an address is shown in a log line or an error. */
export function describeAddress (a: MetricsAddress): string {
  if (a.kind === 'unix') return a.path
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}

// A DNS name (RFC 1123 labels): what a host may be when it is not an IP literal.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * `value` as an address, relative socket paths resolved against `base`; throws an Error whose
 * message says what is wrong (the caller makes it a usage or a configuration error).
 */
export function parseMetricsAddress (value: string, base: string): MetricsAddress {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  const expected = 'give HOST:PORT (e.g. 127.0.0.1:9464) or a Unix socket path (e.g. /run/myapp/metrics.sock)'
  if (value.trim() === '') throw new Error(`the metrics address is empty; ${expected}`)
  if (value.includes('/')) {
    const path = resolve(base, value)
    const tooLong = socketPathProblem(path)
    if (tooLong !== null) throw new Error(`the metrics socket: ${tooLong}`)
    return { kind: 'unix', path }
  }
  const m = /^(?:\[([^\]]*)\]|([^:]*)):([^:]*)$/.exec(value)
  if (m === null) throw new Error(`${shown} is not an address; ${expected}`)
  const host = m[1] ?? m[2] ?? ''
  const portText = m[3] ?? ''
  if (host === '') throw new Error(`${shown} names no host (to listen on every interface, say so: 0.0.0.0:${portText}); ${expected}`)
  const bracketed = m[1] !== undefined
  if (bracketed ? isIP(host) !== 6 : isIP(host) !== 4 && !HOSTNAME.test(host)) {
    throw new Error(`${shown}: ${JSON.stringify(host)} is not ${bracketed ? 'an IPv6 address' : 'an IPv4 address or a host name'}; ${expected}`)
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN
  if (!(port >= 1 && port <= 65_535)) throw new Error(`${shown}: the port must be a number from 1 to 65535 (got ${JSON.stringify(portText)}); ${expected}`)
  return { kind: 'tcp', host, port }
}
