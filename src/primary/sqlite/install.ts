// Renames a validated temp file over the live database, inside the pause.
//
//   checkpoint (TRUNCATE) or roll back a hot journal, proving no outside connection is busy
//     ─▶ remove the live -wal/-shm/-journal ─▶ link the old file (as a kept generation, or a
//     temporary link the caller removes) ─▶ rename ─▶ fsync the directory
//
// Runs on the swap's own thread (pool.ts), while every app worker has closed its connections.
// installSet does a commit's files together: all quiesced, all linked, all renamed, dirs fsynced.

import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { clock, errorMessage, failure, since, sqliteCode, type Failure, type TaskResult } from './result.js'
import { removeSideFiles, sideFilesOf } from './side-files.js'
import { oldLinkPathFor } from './temp-files.js'

export interface InstallInput {
  tempPath: string
  livePath: string
  force: boolean
  busyTimeoutMs: number
  /**
   * Where the old file is kept as a generation (a hard link, in `.hotswap/`, same filesystem);
   * null keeps nothing (serve --keep 0): a temporary link the caller removes after resume.
   */
  keepPath: string | null
  /** When the task was handed to the pool (clock()); set by TaskPool on its swap lane. */
  submittedAt?: number
}

export interface InstallOutput {
  /** The temporary link to the old file, for the caller to unlink after resume (keepPath null). */
  oldLinkPath: string | null
  /** The old file is linked at keepPath. False when the link failed: the old file is gone. */
  kept: boolean
  /** Milliseconds per step; `queued` is the wait between submission and this thread starting. */
  timings: Record<string, number>
  /** When this thread started the install (clock()). */
  startedAt: number
}

/**
 * Renames a validated temp file over the live database. Runs inside the pause, while every
 * app worker has closed its connections, so it must be quick and must leave nothing of the
 * old file that SQLite could apply to the new one.
 *
 * The caller unlinks `oldLinkPath` (when not null) after the workers have resumed.
 */
export function install (input: InstallInput): TaskResult<InstallOutput> {
  // One database is a set of one; with no keep path the old file is linked beside the live one
  // under a temporary name, which the caller removes after resume.
  const keepPath = input.keepPath ?? oldLinkPathFor(input.livePath)
  const r = installSet({ items: [{ tempPath: input.tempPath, livePath: input.livePath, keepPath }], force: input.force, busyTimeoutMs: input.busyTimeoutMs, submittedAt: input.submittedAt })
  if (!r.ok) return r
  const { directories: _directories, ...timings } = r.value.timings
  const one = r.value.installed[0] ?? { oldLinkPath: null, kept: false }
  if (input.keepPath !== null) return { ok: true, value: { oldLinkPath: one.oldLinkPath, kept: one.kept, timings, startedAt: r.value.startedAt } }
  return { ok: true, value: { oldLinkPath: one.kept ? keepPath : one.oldLinkPath, kept: false, timings, startedAt: r.value.startedAt } }
}

export interface InstallSetItem {
  tempPath: string
  livePath: string
  keepPath: string
}

export interface InstallSetInput {
  items: InstallSetItem[]
  force: boolean
  busyTimeoutMs: number
  submittedAt?: number
  /**
   * Per item, true when quiesceSet already emptied its WAL inside this pause (a held commit, before
   * it waits for its go): its checkpoint and side-file removal are skipped when no side file came
   * back since (a connection in WAL mode always has its -shm), and done again when one did.
   */
  quiesced?: boolean[]
}

export interface InstallSetOutput {
  /** Per item, as install's: a temporary link to remove after resume, and whether it is kept. */
  installed: Array<{ oldLinkPath: string | null, kept: boolean }>
  timings: Record<string, number>
  startedAt: number
}

/**
 * Installs several databases in one pause, all or none: every live file is quiesced first (an
 * outside connection on any refuses the set before anything moved), then each old file is
 * linked aside and each new one renamed in, then each distinct directory is fsynced once.
 * A rename that fails puts back the ones before it.
 */
export function installSet (input: InstallSetInput, afterRename: (i: number) => void = () => {}): TaskResult<InstallSetOutput> {
  const startedAt = clock()
  const { items, force, busyTimeoutMs } = input
  const timings: Record<string, number> = {}
  if (input.submittedAt !== undefined) timings.queued = Math.round((startedAt - input.submittedAt) * 1000) / 1000
  for (const item of items) fs.statSync(item.tempPath)

  // Quiesced before the hold and left alone since: nothing to empty, nothing beside it.
  const again = items.filter((item, i) => input.quiesced?.[i] !== true || sideFilesOf(item.livePath).some((p) => fs.existsSync(p)))
  let t = performance.now()
  for (const item of again) {
    const quiet = quiesceLive(item.livePath, force, busyTimeoutMs)
    if (!quiet.ok) return quiet
  }
  timings.checkpoint = since(t)
  if (input.quiesced !== undefined) timings.quiescedBeforeHold = items.length - again.length

  // No SQLite connection of this thread has a live file open any more. SQLite finds a
  // database's -wal and hot -journal by name, not by inode, and applies whatever it finds
  // there to the file at that path (https://www.sqlite.org/wal.html, "the WAL file is ...
  // part of the persistent state of the database"; https://www.sqlite.org/lockingv3.html,
  // "hot journals"). We reproduced a leftover -wal replaying the old rows over the renamed-in
  // file, silently. After the TRUNCATE checkpoint above the -wal holds nothing we need. A
  // stale -shm alone is harmless, but the next opener rebuilds it anyway, so it goes too.
  t = performance.now()
  for (const item of again) removeSideFiles(item.livePath)
  timings.cleanup = since(t)
  // rename(2) over a file drops its last link and frees its blocks inside the call: about
  // 24 ms for 100 MB on our disks, all of it inside the pause. A second link (the kept
  // generation, or a temporary one when that fails: EPERM on some filesystems) keeps the old
  // inode alive, so the rename only swaps a directory entry (about 0.2 ms).
  t = performance.now()
  const installed = items.map((item) => {
    const kept = linkAt(item.livePath, item.keepPath)
    return { oldLinkPath: kept ? null : linkOld(item.livePath), kept }
  })
  timings.link = since(t)

  // rename(2) replaces the directory entry atomically: every open() of the live path sees
  // either the old file or the new one, whole (https://man7.org/linux/man-pages/man2/rename.2.html).
  t = performance.now()
  for (const [i, item] of items.entries()) {
    try {
      fs.renameSync(item.tempPath, item.livePath)
    } catch (err) {
      for (let j = i - 1; j >= 0; j--) {
        const done = items[j] as InstallSetItem
        fs.linkSync(done.livePath, done.tempPath)
        fs.renameSync(installed[j]?.oldLinkPath ?? done.keepPath, done.livePath)
      }
      for (const [j, x] of items.entries()) {
        const r = installed[j]
        if (r?.oldLinkPath != null) fs.rmSync(r.oldLinkPath, { force: true })
        if (r?.kept === true && j >= i) fs.rmSync(x.keepPath, { force: true })
      }
      for (const dir of new Set(items.map((x) => path.dirname(x.livePath)))) fsyncDirectory(dir)
      throw err
    }
    afterRename(i)
  }
  timings.rename = since(t)

  // A rename is durable only once its directory is fsynced (fsync(2): "calling fsync() on the
  // file does not necessarily ensure that the entry in the directory containing the file has
  // also reached disk"); one fsync per directory flushes every entry renamed in it.
  t = performance.now()
  const dirs = new Set(items.map((x) => path.dirname(x.livePath)))
  for (const dir of dirs) fsyncDirectory(dir)
  timings.fsyncDir = since(t)
  timings.directories = dirs.size
  return { ok: true, value: { installed, timings, startedAt } }
}

export interface QuiesceSetInput {
  livePaths: string[]
  force: boolean
  busyTimeoutMs: number
}

/**
 * A held commit's first install steps, done while it waits for its go (every worker paused, so
 * the go has only the links, renames and directory fsync left): every live file quiesced as
 * installSet would, its side files removed. Per file, whether it is in WAL mode: only those may
 * skip the steps at the go (installSet's `quiesced`); nothing is changed that resuming on the old
 * files would have to undo.
 */
export function quiesceSet (input: QuiesceSetInput): TaskResult<{ quiesced: boolean[], timings: Record<string, number> }> {
  const t = performance.now()
  const quiesced: boolean[] = []
  for (const livePath of input.livePaths) {
    const quiet = quiesceLive(livePath, input.force, input.busyTimeoutMs)
    if (!quiet.ok) return quiet
    removeSideFiles(livePath)
    quiesced.push(quiet.value === 'wal')
  }
  return { ok: true, value: { quiesced, timings: { quiesce: since(t) } } }
}

/**
 * Empties the live database's -wal into the file (or rolls back a hot journal) and proves no
 * outside connection is in the middle of using it. With `force`, a busy database is taken
 * over anyway: the outside process's uncommitted or uncheckpointed work is lost.
 */
function quiesceLive (livePath: string, force: boolean, busyTimeoutMs: number): TaskResult<string | null> {
  let db: Database.Database | undefined
  try {
    // A short busy timeout: this runs inside the pause, and the default 5 s would hold every
    // worker for 5 s when an outside process blocks us. We would refuse in the end anyway.
    db = new Database(livePath, { fileMustExist: true, timeout: busyTimeoutMs })
    const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase()
    if (mode === 'wal') {
      // Only TRUNCATE made a leftover WAL safe in our tests; PASSIVE, FULL and RESTART left
      // frames that were replayed later. TRUNCATE waits (up to the busy timeout) for every
      // reader to leave the WAL, so busy=1 means an outside connection is in a transaction
      // (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint).
      const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number, log: number, checkpointed: number }>
      if (row !== undefined && row.busy !== 0 && !force) return busyRefusal(livePath)
    } else {
      // Taking a lock rolls back a hot journal left by a crashed writer. EXCLUSIVE rather than
      // IMMEDIATE: in rollback mode IMMEDIATE succeeds beside an outside reader holding a
      // SHARED lock (measured), EXCLUSIVE fails with SQLITE_BUSY, so it also detects readers.
      db.exec('BEGIN EXCLUSIVE')
      db.exec('ROLLBACK')
    }
    return { ok: true, value: mode }
  } catch (err) {
    const code = sqliteCode(err)
    if (code === undefined) throw err
    if (force) return { ok: true, value: null }
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return busyRefusal(livePath)
    return failure('HOTSWAP_ERR_INTERNAL',
      `could not checkpoint the live database ${livePath}: ${code}: ${errorMessage(err)}; ` +
      'use --force to replace it anyway')
  } finally {
    db?.close()
  }
}

function busyRefusal (livePath: string): Failure {
  return failure('HOTSWAP_ERR_DB_BUSY',
    `another process is using the live database ${livePath}: stop the other process, ` +
    'or use --force to replace the database anyway (its pending writes will be lost)')
}

function linkOld (livePath: string): string | null {
  const oldLinkPath = oldLinkPathFor(livePath)
  return linkAt(livePath, oldLinkPath) ? oldLinkPath : null
}

function linkAt (livePath: string, at: string): boolean {
  try {
    fs.linkSync(livePath, at)
    return true
  } catch (err) {
    // A file by that name is one a killed swap left (start-up removes those): replace it.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false
    try {
      fs.rmSync(at, { force: true })
      fs.linkSync(livePath, at)
      return true
    } catch {
      return false
    }
  }
}

export function fsyncDirectory (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
