// Whether the server and a client see the same files under the same paths: same user, same
// mount namespace. Then `hotswap cp FILE LIVE` sends the path, and the server copies the file
// in the kernel, instead of streaming every byte through the control socket; a client outside
// the server's container (a socket bind-mounted out of it) streams.

import { readlinkSync } from 'node:fs'

/** This process's mount namespace ("mnt:[4026531840]"), or null where /proc does not say. */
export function mountNamespace (): string | null {
  try {
    return readlinkSync('/proc/self/ns/mnt')
  } catch {
    return null
  }
}

export interface FilesIdentity {
  uid?: number | null
  mountNamespace?: string | null
}

/** True when `server` (from `status --json`) resolves this process's paths to the same files. */
export function seesOurFiles (server: FilesIdentity): boolean {
  const ns = mountNamespace()
  const uid = process.getuid?.()
  return ns !== null && uid !== undefined && server.mountNamespace === ns && server.uid === uid
}
