// One consistent copy of a SQLite database into a new private file, for both sides of the
// socket: the server's snapshots and local sources (snapshot.ts), and the client's push of a
// source with a -wal (client/push.ts), each of which words the failures its own way.
//
//   create DEST (O_EXCL, 0600) ─▶ open SRC read-only ─▶ VACUUM INTO DEST ─▶ { bytes, ms }
//                                         any failure ─▶ DEST and its -journal removed ─▶ { step, error }
//
// `VACUUM INTO` copies the database inside one read transaction, so writers in other
// processes keep committing and the copy never restarts. better-sqlite3's default backup()
// copies 100 pages per step and starts over whenever another connection writes; at 10
// commits/s it never finished a 200 MB snapshot. (https://www.sqlite.org/lang_vacuum.html)
//
// The output is a rollback-journal database and is not fsynced by SQLite; validate() fsyncs
// a file before it is installed. This module loads the SQLite addon: the client imports it
// only when it needs it.

import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { since } from './result.js'
import { removeWithSideFiles } from './side-files.js'

export type VacuumResult =
  | { ok: true, bytes: number, ms: number }
  /**
   * `create`: DEST could not be made (it exists, or its directory is missing or not ours);
   * `open`: SRC did not open, or did not answer a first query, as a database;
   * `copy`: VACUUM INTO failed. `error` is what was thrown, for the caller to word.
   */
  | { ok: false, step: 'create' | 'open' | 'copy', error: unknown }

export function vacuumInto (srcPath: string, destPath: string): VacuumResult {
  const t = performance.now()
  // VACUUM INTO accepts an empty existing file, so the destination is created here,
  // exclusively and private (0600), rather than by SQLite with the umask's permissions
  // (readable by every user of a shared /tmp while it is sent).
  try {
    fs.closeSync(fs.openSync(destPath, 'wx', 0o600))
  } catch (error) {
    return { ok: false, step: 'create', error }
  }
  let db: Database.Database | undefined
  let failed: VacuumResult | null = null
  try {
    try {
      // Read-only: the source is production, or a user's file we must not change.
      db = new Database(srcPath, { readonly: true, fileMustExist: true, timeout: 5000 })
      // A small page cache: a pool thread lives on in the primary.
      db.pragma('cache_size = -2000')
      db.prepare('SELECT count(*) FROM sqlite_master').get()
    } catch (error) {
      failed = { ok: false, step: 'open', error }
      return failed
    }
    try {
      db.prepare('VACUUM INTO ?').run(destPath)
    } catch (error) {
      failed = { ok: false, step: 'copy', error }
      return failed
    }
  } finally {
    db?.close()
    if (failed !== null) removeWithSideFiles(destPath)
  }
  return { ok: true, bytes: fs.statSync(destPath).size, ms: since(t) }
}
