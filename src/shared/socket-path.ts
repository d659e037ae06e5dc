import { resolve } from 'node:path'

/** Where the control socket lives unless --socket or HOTSWAP_SOCKET says otherwise. */
export const DEFAULT_SOCKET = 'tmp/sockets/hotswap.sock'

/** --socket, else HOTSWAP_SOCKET, else tmp/sockets/hotswap.sock, resolved against `cwd`. */
export function socketPath (flag?: string, cwd = process.cwd()): string {
  const env = process.env.HOTSWAP_SOCKET
  return resolve(cwd, flag ?? (env !== undefined && env !== '' ? env : DEFAULT_SOCKET))
}
