// One primary per database. A second `hotswap serve` on a managed file (with another --socket)
// took the first one's uploads in progress for orphans and deleted them at start-up, and two
// primaries swapping one file would each rename under the other's workers.
//
//   serve ─▶ lock `.NAME.hotswap-lock` beside every --db ─▶ listen ─▶ clean up orphans ─▶ …
//                 └─ held by another process ─▶ refused, naming its pid (from /proc/locks)
//
// Node has no flock() or fcntl(); SQLite has fcntl locks. A connection in locking_mode=EXCLUSIVE
// that has run one exclusive transaction keeps its write lock until it is closed, and the kernel
// drops it when the process dies, however it dies: no stale lock outlives a crash, no pid file
// has to be trusted, and it holds across pid namespaces (containers sharing the volume). The
// file is left in place when the primary stops: unlinking a lock file another process may have
// just opened would let two primaries lock two different files of the same name.
//
// POSIX locks are per process: closing any descriptor of the lock file in this process would
// drop the lock. Nothing but this connection opens it (cleanupOrphans leaves it alone). It is
// a file of its own, never the live database: the primary must not open the live files.

import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { HotswapError } from '../shared/errors.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { lockPathFor } from './sqlite/temp-files.js'

export class DatabaseLocks {
  readonly #held: Database.Database[] = []

  /** Locks every database, or none: throws HOTSWAP_ERR_ALREADY_SERVED naming the other primary. */
  static acquire (databases: DatabaseInfo[]): DatabaseLocks {
    const locks = new DatabaseLocks()
    try {
      for (const db of databases) locks.#held.push(lockOne(db.path))
    } catch (err) {
      locks.release()
      throw err
    }
    return locks
  }

  release (): void {
    for (const db of this.#held.splice(0)) db.close()
  }
}

function lockOne (livePath: string): Database.Database {
  const lockPath = lockPathFor(livePath)
  // SQLite opens a file it may not write read-only, without a word, and then takes only a read
  // lock, which two primaries can share (measured). access(2) checks by path, opening nothing.
  if (existsSync(lockPath)) {
    try {
      accessSync(lockPath, constants.W_OK)
    } catch {
      throw new HotswapError('HOTSWAP_ERR_CONFIG',
        `cannot lock ${livePath} for this server: ${lockPath} is not writable by this user (uid ${process.getuid?.() ?? '?'}, ` +
        `the file's is ${statSync(lockPath).uid}); remove it, or run serve as the user who made it`)
    }
  }
  let db: Database.Database | undefined
  try {
    // timeout 0: a held lock is an answer, not something to wait for.
    db = new Database(lockPath, { timeout: 0 })
    // No -journal beside it (OFF is refused in better-sqlite3's defensive mode: it stays DELETE).
    db.pragma('journal_mode = MEMORY')
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
    db.exec('COMMIT') // in EXCLUSIVE locking mode the lock stays until close()
    return db
  } catch (err) {
    db?.close()
    const code = (err as { code?: unknown }).code
    if (code === 'SQLITE_BUSY') {
      const pid = lockHolder(lockPath)
      throw new HotswapError('HOTSWAP_ERR_ALREADY_SERVED',
        `${livePath} is managed by another hotswap serve (${pid === null ? 'its pid is not visible here' : `pid ${pid}`}); ` +
        'stop it first, or serve a copy of the database')
    }
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot lock ${livePath} for this server through ${lockPath}: ${(err as Error).message}`)
  }
}

/**
 * The pid holding a POSIX lock on `path`, from /proc/locks (Linux), or null. Its lines read
 * `1: POSIX  ADVISORY  WRITE 4242 fe:00:2146309 1073741824 1073742335`: pid, then
 * major:minor:inode of the locked file (proc(5)).
 */
function lockHolder (path: string): number | null {
  try {
    const st = statSync(path)
    // st_dev is the kernel's new_encode_dev(): minor in bits 0-7 and 20-31, major in bits 8-19.
    const major = (st.dev >> 8) & 0xfff
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)
    const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/)
      // "->" marks a process waiting for the lock, not holding it.
      if (f[1] === '->' || f[1] !== 'POSIX') continue
      if (f[5] === id && Number(f[4]) > 0) return Number(f[4])
    }
  } catch { /* no /proc/locks, or the file went away */ }
  return null
}
