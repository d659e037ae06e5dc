// The files SQLite may keep beside a database, named after it: `-wal`, `-shm` and `-journal`.
// A file renamed over a live database must arrive alone, and the live one's must go before the
// rename (install.ts says why); the /proc scan (holders.ts) looks for them too. Removing a name
// does not open the file, so it is safe in a process that holds connections (tasks.ts).

import { rmSync } from 'node:fs'

export const SIDE_SUFFIXES = ['-wal', '-shm', '-journal'] as const

/** The side files of `path`, whether or not they exist. */
export function sideFilesOf (path: string): string[] {
  return SIDE_SUFFIXES.map((suffix) => path + suffix)
}

/** Removes the side files of `path`; missing ones are fine. */
export function removeSideFiles (path: string): void {
  for (const p of sideFilesOf(path)) rmSync(p, { force: true })
}

/** Removes a file and any SQLite side files; missing ones are fine. */
export function removeWithSideFiles (path: string): void {
  rmSync(path, { force: true })
  removeSideFiles(path)
}
