// Every `.NAME.hotswap-*` name is built here, and here its files are cleaned up: the files a
// swap leaves beside a live database for a moment: uploads being received
// (`.NAME.hotswap-<hex>.tmp`, and `<that>.d-XXXXXX/` while a local file is copied privately),
// snapshots being pulled (`.NAME.hotswap-pull-<hex>.tmp`) and the hard link that keeps the old
// file alive across the rename (`.NAME.hotswap-old-<hex>`). All start with `.NAME.hotswap-`, so
// a primary that was killed mid-swap can clean them up at its next start. A pull into FILE
// writes `.FILE.hotswap-…` beside it the same way. Those names are hotswap's: a `cp` never reads
// or writes one. One of that pattern stays: the lock file (`.NAME.hotswap-lock`,
// database-lock.ts) that keeps a second primary off the database, so that no other primary's
// uploads are ever in the way of that cleanup.

import { createHash, randomBytes } from 'node:crypto'
import { constants, promises as fsp, readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** Longest name part kept whole in a prefix: its temp names (+ up to 32 bytes) fit NAME_MAX (255). */
const PREFIX_NAME_BYTES = 200

export function tempPrefix (livePath: string): string {
  const name = basename(livePath)
  if (Buffer.byteLength(name) <= PREFIX_NAME_BYTES) return `.${name}.hotswap-`
  // A long name is cut (at a character) and made unique again by a digest of the whole name, so
  // `.NAME.hotswap-<hex>.tmp` never makes a valid NAME too long (ENAMETOOLONG) for its temp file.
  // Cut by code points: half a surrogate pair is written to disk as U+FFFD, and then the names
  // readdir returns no longer start with the prefix (cleanupOrphans never saw them).
  let cut = ''
  for (const ch of name) {
    if (Buffer.byteLength(cut + ch) > PREFIX_NAME_BYTES - 10) break
    cut += ch
  }
  return `.${cut}~${createHash('sha256').update(name).digest('hex').slice(0, 8)}.hotswap-`
}

/** A name of hotswap's own temp files (`.NAME.hotswap-…`): deleted as an orphan at a start. */
export function isReservedName (name: string): boolean {
  return /^\..+\.hotswap-/s.test(name)
}

/** The lock file a primary holds for as long as it manages the database (database-lock.ts). */
export function lockPathFor (livePath: string): string {
  return join(dirname(livePath), `${tempPrefix(livePath)}lock`)
}

export function tempPathFor (livePath: string, kind: 'tmp' | 'pull' = 'tmp'): string {
  const hex = randomBytes(6).toString('hex')
  const name = kind === 'tmp' ? `${tempPrefix(livePath)}${hex}.tmp` : `${tempPrefix(livePath)}pull-${hex}.tmp`
  return join(dirname(livePath), name)
}

/**
 * The hard link that keeps the old file alive across the rename (install.ts), unlinked after
 * resume. Under the same prefix as the uploads, so a long NAME's link is found by cleanupOrphans.
 */
export function oldLinkPathFor (livePath: string): string {
  return join(dirname(livePath), `${tempPrefix(livePath)}old-${randomBytes(6).toString('hex')}`)
}

/**
 * Creates the file exclusively (never reusing or following a planted name: O_EXCL refuses an
 * existing path, symlinks included) with mode 0600, and returns its handle.
 */
export async function createExclusive (path: string): Promise<fsp.FileHandle> {
  const flags = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW
  return await fsp.open(path, flags, 0o600)
}

/**
 * Copies `src` to `dest` in the kernel (copy_file_range, or a reflink on btrfs and XFS), with
 * `dest` private from its first byte. copyFile gives its destination the source's mode, so a
 * 0644 source copied beside the live database would be readable by others while it is copied
 * (and through any descriptor opened then), even when the source sat in a private directory.
 * It is copied into a fresh 0700 directory beside `dest`, made 0600 there, then linked to
 * `dest` (which fails if anything, a planted symlink included, already has that name).
 */
export async function copyPrivately (src: string, dest: string): Promise<void> {
  const stage = await fsp.mkdtemp(`${dest}.d-`) // 0700; starts with the temp prefix, for cleanupOrphans
  try {
    const staged = join(stage, 'copy')
    await fsp.copyFile(src, staged, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
    await fsp.chmod(staged, 0o600)
    await fsp.link(staged, dest)
  } finally {
    await fsp.rm(stage, { recursive: true, force: true })
  }
}

/**
 * Removes what an earlier, killed primary left beside the live database. Returns the names.
 * Only for the primary that holds the database's lock: nothing else then writes these names.
 * The lock file itself is never removed (nor opened: that would drop this process's lock).
 */
export function cleanupOrphans (livePath: string): string[] {
  const dir = dirname(livePath)
  const prefix = tempPrefix(livePath)
  const lock = basename(lockPathFor(livePath))
  const removed: string[] = []
  for (const name of readdirSync(dir)) {
    // The lock file and any side file SQLite ever made of it (a -journal, by older versions).
    if (!name.startsWith(prefix) || name.startsWith(lock)) continue
    rmSync(join(dir, name), { force: true, recursive: true }) // a copy's staging directory too
    removed.push(name)
  }
  return removed
}
