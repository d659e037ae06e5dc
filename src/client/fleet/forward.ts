// A host's control socket, reached through its ssh control master: the held switch speaks the
// socket's protocol itself rather than through a `hotswap commit` started on the host.
//
//   REMOTE status --json ─▶ primary.socket (asked once per host, while it stages)
//   ssh -O forward -L LOCAL.sock:REMOTE.sock HOST ─▶ LOCAL.sock, in our private control dir
//   ... the held commit on LOCAL.sock ...   ssh -O cancel -L LOCAL.sock:REMOTE.sock HOST
//
// No master (a configuration without multiplexing), an ssh that cannot forward a socket, an sshd
// that refuses to (its first connection closed: `version` is asked through the forward before
// it is used), a host whose socket is not known as an absolute path: undefined, and the caller
// runs the CLI instead.
//
// A coordinator killed mid-switch never cancels its forwards: its master keeps them until it
// exits, and ssh leaves their socket files behind; the next fleet command removes them
// (ssh.ts, reapForwards).

import { rmSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { runRemote } from '../connection.js'
import type { FleetHost } from './config.js'
import { controlDir, type Ssh } from './ssh.js'

export interface Forward {
  local: string
  cancel: () => Promise<void>
}

const sockets = new WeakMap<Ssh, Map<string, Promise<string | undefined>>>()
let next = 0

/** The host's control socket as its primary names it (`status --json`); undefined when unknown. */
export async function remoteSocketOf (ssh: Ssh, host: FleetHost): Promise<string | undefined> {
  let known = sockets.get(ssh)
  if (known === undefined) { known = new Map(); sockets.set(ssh, known) }
  let socket = known.get(host.name)
  if (socket === undefined) {
    socket = (async () => {
      const r = await ssh.run(host, ['status', '--json'])
      if (r.code !== 0) return undefined
      try {
        const path = (JSON.parse(r.stdout) as { primary?: { socket?: unknown } }).primary?.socket
        return typeof path === 'string' && isAbsolute(path) ? path : undefined
      } catch {
        return undefined
      }
    })()
    known.set(host.name, socket)
  }
  return await socket
}

/** The host's control socket forwarded to a local one through its master; undefined when it cannot be. */
export async function forwardSocket (ssh: Ssh, host: FleetHost): Promise<Forward | undefined> {
  const remote = await remoteSocketOf(ssh, host)
  if (remote === undefined) return undefined
  let local: string
  try {
    local = join(controlDir(), `fwd-${process.pid}-${next++}.sock`)
  } catch {
    return undefined
  }
  const spec = `${local}:${remote}`
  const r = await ssh.control(host, ['-O', 'forward', '-L', spec])
  if (r.code !== 0) { rmSync(local, { force: true }); return undefined }
  let cancelled: Promise<void> | undefined
  const fwd: Forward = {
    local,
    cancel: async () => {
      cancelled ??= (async () => {
        await ssh.control(host, ['-O', 'cancel', '-L', spec])
        rmSync(local, { force: true })
      })()
      await cancelled
    },
  }
  if (await reaches(local, ssh.timeoutMs)) return fwd
  await fwd.cancel()
  return undefined
}

/**
 * Whether a hotswap server answers `version` on the forwarded socket. ssh sets a forward up on
 * our side alone: an sshd that refuses to forward a Unix socket (`AllowStreamLocalForwarding
 * no`, `DisableForwarding yes`) closes its first connection at once, and a held commit sent
 * there would fail that host's switch rather than take the CLI.
 */
async function reaches (local: string, timeoutMs: number): Promise<boolean> {
  const stop = new AbortController()
  const timer = setTimeout(() => { stop.abort() }, timeoutMs)
  try {
    let said = ''
    const reply = await runRemote({ socketPath: local, args: ['version'], tty: false, signal: stop.signal, onStdout: (c) => { said += c.toString('utf8') }, onStderr: () => {} })
    return !stop.signal.aborted && reply.exit === 0 && said !== ''
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
