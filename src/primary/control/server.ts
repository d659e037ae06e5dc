// The control server: a Unix socket that speaks the hotswap gem's framing. This file listens
// and keeps the socket file safe; each connection is a Connection (connection.ts), each command
// a file of commands/.
//
//   prepareSocketPath ─▶ listen (0600, in a 0700 directory) ─▶ accept ─▶ new Connection
//   shutdown: stopAccepting ─▶ closeConnections (replies get out, then the rest is cut)
//
// A live socket is never stolen, a stale one is replaced.

import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import { DEFAULT_SOCKET } from '../../shared/socket-path.js'
import { workingDirectory } from '../../shared/working-directory.js'
import { Connection } from './connection.js'
import type { ServerContext } from './session.js'

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
    // A path through a file, or a directory we may not create (the default one, in a working
    // directory the server's user may not write): a bad --socket, not INTERNAL.
    const which = socketPath.endsWith(`/${DEFAULT_SOCKET}`) ? ` (the default socket, ${DEFAULT_SOCKET} under the working directory)` : ''
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create the socket directory ${dir}${which}: ${(err as Error).message}; ` +
      'give a socket path this user may create with --socket PATH or HOTSWAP_SOCKET (under systemd: RuntimeDirectory=NAME and HOTSWAP_SOCKET=/run/NAME/hotswap.sock)')
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
   * Connections running the command `except` are left alone: `hotswap stop`, answered once the
   * shutdown it waits for is done (a second call then closes them).
   */
  async closeConnections (graceMs: number, except?: string): Promise<void> {
    const closing = (): Connection[] => [...this.#connections.values()].filter((c) => except === undefined || c.command !== except)
    for (const c of closing()) c.interrupt()
    const allClosed = async (ms: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(closing().map(async (c) => await c.closed)),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) }),
      ])
      clearTimeout(timer)
    }
    await allClosed(graceMs)
    for (const c of closing()) {
      if (c.state !== 'finished') c.refuse(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down'))
    }
    await allClosed(graceMs)
    for (const [socket, c] of this.#connections) if (except === undefined || c.command !== except) socket.destroy()
  }

  #accept (socket: net.Socket): void {
    const connection = new Connection(socket, {
      context: this.#opts.context,
      logger: this.#opts.logger,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      cwd: this.#cwd,
      isClosing: () => this.#closing,
      onClose: () => { this.#connections.delete(socket) },
    })
    this.#connections.set(socket, connection)
  }
}
