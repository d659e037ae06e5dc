// Names and cleanup of the files a swap leaves beside a live database for a moment:
// uploads being received (`.NAME.hotswap-<hex>.tmp`), snapshots being pulled
// (`.NAME.hotswap-pull-<hex>.tmp`) and the hard link that keeps the old file alive across the
// rename (`.NAME.hotswap-old-<hex>`). All start with `.NAME.hotswap-`, so a primary that was
// killed mid-swap can clean them up at its next start.

import { randomBytes } from 'node:crypto'
import { constants, promises as fsp, readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export function tempPrefix (livePath: string): string {
  return `.${basename(livePath)}.hotswap-`
}

export function tempPathFor (livePath: string, kind: 'tmp' | 'pull' = 'tmp'): string {
  const hex = randomBytes(6).toString('hex')
  const name = kind === 'tmp' ? `${tempPrefix(livePath)}${hex}.tmp` : `${tempPrefix(livePath)}pull-${hex}.tmp`
  return join(dirname(livePath), name)
}

/**
 * Creates the file exclusively (never reusing or following a planted name: O_EXCL refuses an
 * existing path, symlinks included) with mode 0600, and returns its handle.
 */
export async function createExclusive (path: string): Promise<fsp.FileHandle> {
  const flags = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW
  return await fsp.open(path, flags, 0o600)
}

/** Removes a file and any SQLite side files; missing ones are fine. */
export function removeWithSideFiles (path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    rmSync(p, { force: true })
  }
}

/** Removes what an earlier, killed primary left beside the live database. Returns the names. */
export function cleanupOrphans (livePath: string): string[] {
  const dir = dirname(livePath)
  const prefix = tempPrefix(livePath)
  const removed: string[] = []
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix)) continue
    rmSync(join(dir, name), { force: true })
    removed.push(name)
  }
  return removed
}
