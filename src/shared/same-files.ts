// Whether the server and a client see the same files under the same paths: same user, same
// mount namespace, same root directory (not chrooted apart). Then `hotswap cp FILE LIVE` sends
// the path, and the server copies the file in the kernel, instead of streaming every byte
// through the control socket; a client outside the server's container (a socket bind-mounted
// out of it) streams. The server also checks that the path names the very file the client
// stat'ed (device and inode) before it copies anything.

import { readlinkSync, statSync } from 'node:fs'

/** This process's mount namespace ("mnt:[4026531840]"), or null where /proc does not say. */
export function mountNamespace (): string | null {
  try {
    return readlinkSync('/proc/self/ns/mnt')
  } catch {
    return null
  }
}

/** This process's root directory as "device:inode" (a chroot has its own), or null. */
export function rootDirectory (): string | null {
  try {
    const st = statSync('/')
    return `${st.dev}:${st.ino}`
  } catch {
    return null
  }
}

export interface FilesIdentity {
  uid?: number | null
  mountNamespace?: string | null
  root?: string | null
}

/** What `status --json` says of the server, for seesOurFiles() on the client. */
export function filesIdentity (): FilesIdentity {
  return { uid: process.getuid?.() ?? null, mountNamespace: mountNamespace(), root: rootDirectory() }
}

/** True when `server` (from `status --json`) resolves this process's paths to the same files. */
export function seesOurFiles (server: FilesIdentity): boolean {
  const ours = filesIdentity()
  return ours.uid !== null && ours.mountNamespace !== null && ours.root !== null &&
    server.uid === ours.uid && server.mountNamespace === ours.mountNamespace && server.root === ours.root
}
