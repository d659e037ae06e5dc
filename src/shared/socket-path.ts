import { resolve } from 'node:path'

/** Where the control socket lives unless --socket or HOTSWAP_SOCKET says otherwise. */
export const DEFAULT_SOCKET = 'tmp/sockets/hotswap.sock'

/**
 * The longest Unix socket path: sun_path holds 108 bytes with its NUL. A longer path is not
 * refused by the kernel or by Node: it is cut at 107 bytes, and the server listened on (and a
 * client reached) a socket of another name, in another directory.
 */
export const MAX_SOCKET_PATH_BYTES = 107

/** --socket, else HOTSWAP_SOCKET, else tmp/sockets/hotswap.sock, resolved against `cwd`. */
export function socketPath (flag?: string, cwd = process.cwd()): string {
  const env = process.env.HOTSWAP_SOCKET
  return resolve(cwd, flag ?? (env !== undefined && env !== '' ? env : DEFAULT_SOCKET))
}

/** Why `path` cannot be a socket path, or null when it can. */
export function socketPathProblem (path: string): string | null {
  const bytes = Buffer.byteLength(path)
  if (bytes <= MAX_SOCKET_PATH_BYTES) return null
  return `the socket path is ${bytes} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} (choose a shorter --socket or HOTSWAP_SOCKET): ${path}`
}
