// `hotswap serve --db PATH --create` on a PATH that does not exist yet: an empty SQLite database
// in WAL journal mode (the mode a live database has once its app ran; a swap keeps whatever mode
// the pushed file's header records), private to the server's user (0600, as every file hotswap
// makes). Made under a temp name beside PATH and linked into place, so PATH never names a
// half-made file and an existing one (a second server's, made meanwhile) is never replaced.
//
//   temp (O_EXCL, 0600) ─▶ journal_mode = WAL, close ─▶ link(temp, PATH) ─▶ unlink temp
//                      any failure ─▶ temp and its side files removed

import { closeSync, constants, fsyncSync, linkSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { removeWithSideFiles } from './side-files.js'
import { tempPathFor } from './temp-files.js'

/** Creates PATH as an empty WAL database; false when something else made PATH meanwhile. */
export function createEmptyDatabase (path: string): boolean {
  const temp = tempPathFor(path)
  try {
    closeSync(openSync(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600))
    const db = new Database(temp, { fileMustExist: true })
    try {
      // Writes page 1, whose header then records WAL (bytes 18-19 = 2).
      db.pragma('journal_mode = WAL')
    } finally {
      db.close() // The last connection: checkpoints and removes the -wal and -shm.
    }
    const fd = openSync(temp, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
    try {
      linkSync(temp, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
    syncDirectory(dirname(path))
    return true
  } finally {
    removeWithSideFiles(temp)
  }
}

function syncDirectory (dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  } catch { /* some file systems refuse to fsync a directory; the link is made either way */ }
}
