// Piscina tasks: every piece of SQLite and disk work the primary does, run off its event loop.
// The primary accepts every connection for the workers on Linux, so a checkpoint or a
// snapshot on its own thread would stall every request; here it only blocks a pool thread.
//
//   push:  upload ─▶ temp file ─▶ validate ───────────▶ [lock, pause] ─▶ install ──────────▶ [resume]
//                                 header, integrity,                    checkpoint, rm side
//                                 schema, journal mode,                 files, link old,
//                                 fsync                                 rename, fsync dir
//          local source with a -wal ─▶ readSourceThroughSqlite (VACUUM INTO) ─▶ temp file
//   pull:  live db ─▶ snapshot (VACUUM INTO) ─▶ file streamed to the client
//   who else has it open: /proc/*/fd ─▶ findHolders
//
// Piscina passes a task's return value by structured clone and drops custom properties of a
// thrown error, so expected failures come back as a TaskResult with a coded error; only
// unexpected ones throw.
//
// Never open and close the live files (or their side files) with `fs` here: POSIX locks are
// per process, so closing any descriptor of a file drops every lock this process holds on it,
// including those of SQLite connections in other pool threads. Unlink, link and rename do
// not open the file and are safe.

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import type { ErrorCode } from '../shared/errors.js'
import { readSchema, diffSchemas } from './schema.js'
import { checkHeader, HEADER_BYTES } from './sqlite-header.js'

export type TaskResult<T> =
  | { ok: true, value: T }
  | { ok: false, code: ErrorCode, message: string, details: string[] }

type Failure = Extract<TaskResult<unknown>, { ok: false }>

/** The files SQLite may keep beside a database, named after it. */
const SIDE_SUFFIXES = ['-wal', '-shm', '-journal'] as const

/** How many integrity_check messages are worth showing; the rest are counted. */
const MAX_INTEGRITY_DETAILS = 5

// ---------------------------------------------------------------------------------------------
// validate

export interface ValidateInput {
  tempPath: string
  livePath: string
  skipIntegrity: boolean
  skipSchema: boolean
}

export interface ValidateOutput {
  pageSize: number
  pageCount: number
  bytes: number
  journalMode: string
  timings: Record<string, number>
  /** When this thread started and ended the task (clock(): epoch ms, comparable across threads). */
  startedAt: number
  endedAt: number
}

/**
 * Checks an uploaded temp file before any worker pauses, and prepares it for the rename:
 * its journal mode is set to the live one and it is fsynced. On failure the side files SQLite
 * made beside the temp file are removed; the temp file itself is the caller's to unlink.
 */
export function validate (input: ValidateInput): TaskResult<ValidateOutput> {
  const startedAt = clock()
  const { tempPath } = input
  const timings: Record<string, number> = {}
  let succeeded = false
  try {
    let t = performance.now()
    const { head, size } = readHead(tempPath)
    const header = checkHeader(head, size)
    timings.header = since(t)
    if (!header.ok) return header

    const checked = checkWithSqlite(input, timings)
    if (!checked.ok) return checked

    // The temp connection is closed, so no SQLite connection in this process has the temp
    // file open. Closing a WAL database as its last connection deletes its -wal and -shm, but
    // a crash or an error path can leave them, and a -journal can outlive a rollback in some
    // modes; a file renamed over the live path must arrive alone.
    removeSideFiles(tempPath)

    // fsync before the pause: renaming a file whose data is still in the page cache made the
    // rename itself take 66-83 ms on our disks, all of it inside the pause window. The header
    // is read again on the same descriptor, so the result describes the file as installed.
    t = performance.now()
    const final = fsyncAndReadHead(tempPath)
    timings.fsync = since(t)
    const after = checkHeader(final.head, final.size)
    if (!after.ok) {
      return failure('HOTSWAP_ERR_INTERNAL',
        `the temp file changed shape after setting its journal mode: ${after.message}`)
    }

    succeeded = true
    return {
      ok: true,
      value: {
        pageSize: after.value.pageSize,
        pageCount: after.value.pageCount,
        bytes: final.size,
        journalMode: checked.value,
        timings,
        startedAt,
        endedAt: clock(),
      },
    }
  } finally {
    if (!succeeded) removeSideFiles(tempPath)
  }
}

/**
 * The checks that need SQLite, each query guarded: a file that is not a database, or is
 * corrupt, opens without complaint and fails on its first query (SQLITE_NOTADB or
 * SQLITE_CORRUPT). Returns the journal mode now set on the temp file.
 */
function checkWithSqlite (input: ValidateInput, timings: Record<string, number>): TaskResult<string> {
  const { tempPath, livePath, skipIntegrity, skipSchema } = input
  let temp: Database.Database | undefined
  let live: Database.Database | undefined
  try {
    // Read-write on purpose: a read-only connection to a WAL-mode file cannot delete the -wal
    // and -shm it creates, and they would be left beside the temp file.
    try {
      temp = new Database(tempPath, { fileMustExist: true })
      // A small page cache: the thread lives on in the primary, and a 16 MB cache per
      // validation stayed in its RSS (measured by bench/). integrity_check streams anyway.
      temp.pragma('cache_size = -2000')
    } catch (err) {
      return candidateFailure(err)
    }

    if (!skipIntegrity) {
      const t = performance.now()
      let rows: string[]
      try {
        rows = temp.prepare('PRAGMA integrity_check').pluck().all() as string[]
      } catch (err) {
        return candidateFailure(err)
      }
      timings.integrity = since(t)
      if (rows.length !== 1 || rows[0] !== 'ok') {
        const details = rows.slice(0, MAX_INTEGRITY_DETAILS)
        if (rows.length > details.length) details.push(`... and ${rows.length - details.length} more`)
        return failure('HOTSWAP_ERR_INTEGRITY',
          `PRAGMA integrity_check reported ${rows.length} problem${rows.length === 1 ? '' : 's'}`, details)
      }
    }

    // Read-only: validation must never write to production. Its journal mode is what the
    // temp file has to match.
    let t = performance.now()
    let liveMode: string
    try {
      live = new Database(livePath, { readonly: true, fileMustExist: true })
      liveMode = String(live.pragma('journal_mode', { simple: true })).toLowerCase()
    } catch (err) {
      return failure('HOTSWAP_ERR_INTERNAL',
        `cannot read the live database ${livePath}: ${errorMessage(err)}`)
    }

    if (!skipSchema) {
      let candidateSchema
      try {
        candidateSchema = readSchema(temp)
      } catch (err) {
        return candidateFailure(err)
      }
      let liveSchema
      try {
        liveSchema = readSchema(live)
      } catch (err) {
        return failure('HOTSWAP_ERR_INTERNAL',
          `cannot read the schema of the live database ${livePath}: ${errorMessage(err)}`)
      }
      const diff = diffSchemas(liveSchema, candidateSchema)
      timings.schema = since(t)
      if (diff.length > 0) {
        return failure('HOTSWAP_ERR_SCHEMA_MISMATCH',
          `the schema differs from the live database ${livePath} ` +
          '(- live, + uploaded); use --skip-schema-check to push it anyway', diff)
      }
      t = performance.now()
    }

    // VACUUM INTO (how a pull makes its file) writes a rollback-journal database. Pushing
    // such a backup back must not quietly take production out of WAL, so the temp file gets
    // the live file's mode now, offline, rather than by a pragma inside the pause. Modes other
    // than WAL (truncate, persist, memory, off) are per-connection settings, not stored in the
    // file, so the file itself only has to be in rollback-journal form ("delete").
    const mode = liveMode === 'wal' ? 'wal' : 'delete'
    let set: string
    try {
      set = String(temp.pragma(`journal_mode = ${mode}`, { simple: true })).toLowerCase()
    } catch (err) {
      return candidateFailure(err)
    }
    timings.journal = since(t)
    if (set !== mode) {
      return failure('HOTSWAP_ERR_INTERNAL',
        `could not set the uploaded database to journal_mode=${mode} (it stayed ${set})`)
    }
    return { ok: true, value: mode }
  } finally {
    live?.close()
    temp?.close()
  }
}

/** Maps an error from a query on the uploaded file to the code the user should see. */
function candidateFailure (err: unknown): Failure {
  const code = sqliteCode(err)
  if (code === undefined) throw err
  const message = errorMessage(err)
  if (code === 'SQLITE_NOTADB') {
    return failure('HOTSWAP_ERR_NOT_SQLITE', `the file is not a SQLite database: ${message}`)
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_FORMAT' || code.startsWith('SQLITE_IOERR_SHORT_READ')) {
    return failure('HOTSWAP_ERR_INTEGRITY', `the database is corrupt: ${message}`, [`${code}: ${message}`])
  }
  return failure('HOTSWAP_ERR_INTERNAL', `SQLite failed on the uploaded file: ${code}: ${message}`)
}

// ---------------------------------------------------------------------------------------------
// findHolders

export interface FindHoldersInput {
  paths: string[]
  excludePids: number[]
}

export interface Holder {
  pid: number
  command: string
  path: string
}

/**
 * Lists outside processes that have a database or one of its side files open, by reading the
 * /proc/PID/fd symlinks. Locks and a busy checkpoint only reveal a process while it is inside
 * a transaction; this also sees one that opened the file and has been idle since. Only Linux
 * has /proc in this form; elsewhere the answer is empty.
 */
export function findHolders (input: FindHoldersInput): Holder[] {
  if (process.platform !== 'linux') return []
  const targets = new Set<string>()
  for (const p of input.paths) {
    for (const base of spellings(p)) {
      targets.add(base)
      for (const suffix of SIDE_SUFFIXES) targets.add(base + suffix)
    }
  }
  const skip = new Set([process.pid, ...input.excludePids])

  const holders: Holder[] = []
  for (const entry of ignoreRaces(() => fs.readdirSync('/proc'), [])) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (skip.has(pid)) continue
    const seen = new Set<string>()
    for (const fd of ignoreRaces(() => fs.readdirSync(`/proc/${pid}/fd`), [])) {
      const target = ignoreRaces(() => fs.readlinkSync(`/proc/${pid}/fd/${fd}`), null)
      if (target === null || seen.has(target)) continue
      // The kernel marks a file that was unlinked or renamed over while open. Such a process
      // still reaches the live -wal and -shm by name, so it counts.
      const bare = target.endsWith(' (deleted)') ? target.slice(0, -' (deleted)'.length) : target
      if (!targets.has(bare)) continue
      seen.add(target)
      holders.push({ pid, command: commandOf(pid), path: target })
    }
  }
  return holders
}

/** The absolute path as given, and with its directory's symlinks resolved, as /proc shows it. */
function spellings (p: string): string[] {
  const abs = path.resolve(p)
  const out = [abs]
  const realDir = ignoreRaces(() => fs.realpathSync(path.dirname(abs)), null)
  if (realDir !== null) {
    const real = path.join(realDir, path.basename(abs))
    if (real !== abs) out.push(real)
  }
  return out
}

function commandOf (pid: number): string {
  const cmdline = ignoreRaces(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '')
  const command = cmdline.replace(/\0/g, ' ').trim() ||
    ignoreRaces(() => fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), '').trim()
  return command.length > 120 ? command.slice(0, 120) : command
}

/** Processes come and go during a scan, and other users' fds are not ours to read. */
function ignoreRaces<T> (fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'ENOENT' || code === 'EPERM' || code === 'ESRCH') return fallback
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// install

export interface InstallInput {
  tempPath: string
  livePath: string
  force: boolean
  busyTimeoutMs: number
  /** When the task was handed to the pool (clock()); set by TaskPool on its swap lane. */
  submittedAt?: number
}

export interface InstallOutput {
  oldLinkPath: string | null
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
  const startedAt = clock()
  const { tempPath, livePath, force, busyTimeoutMs } = input
  const timings: Record<string, number> = {}
  if (input.submittedAt !== undefined) timings.queued = Math.round((startedAt - input.submittedAt) * 1000) / 1000
  // A missing temp file is a bug in the caller; find out before touching the live database.
  fs.statSync(tempPath)

  let t = performance.now()
  const quiet = quiesceLive(livePath, force, busyTimeoutMs)
  timings.checkpoint = since(t)
  if (!quiet.ok) return quiet

  // No SQLite connection of this thread has the live file open any more. SQLite finds a
  // database's -wal and hot -journal by name, not by inode, and applies whatever it finds
  // there to the file at that path (https://www.sqlite.org/wal.html, "the WAL file is ...
  // part of the persistent state of the database"; https://www.sqlite.org/lockingv3.html,
  // "hot journals"). We reproduced a leftover -wal replaying the old rows over the renamed-in
  // file, silently. After the TRUNCATE checkpoint above the -wal holds nothing we need. A
  // stale -shm alone is harmless, but the next opener rebuilds it anyway, so it goes too.
  t = performance.now()
  for (const suffix of SIDE_SUFFIXES) fs.rmSync(livePath + suffix, { force: true })
  timings.cleanup = since(t)

  // rename(2) over a file drops its last link and frees its blocks inside the call: about
  // 24 ms for 100 MB on our disks, all of it inside the pause. A second link keeps the old
  // inode alive, so the rename only swaps a directory entry (about 0.2 ms); the caller
  // unlinks it after resume. Without it (EPERM on some filesystems, EXDEV never here since
  // it is in the same directory) the swap is just slower.
  t = performance.now()
  const oldLinkPath = linkOld(livePath)
  timings.link = since(t)

  // rename(2) replaces the directory entry atomically: every open() of the live path sees
  // either the old file or the new one, whole (https://man7.org/linux/man-pages/man2/rename.2.html).
  t = performance.now()
  try {
    fs.renameSync(tempPath, livePath)
  } catch (err) {
    if (oldLinkPath !== null) fs.rmSync(oldLinkPath, { force: true })
    throw err
  }
  timings.rename = since(t)

  // The rename is durable only once the directory is fsynced (fsync(2): "calling fsync() on
  // the file does not necessarily ensure that the entry in the directory containing the file
  // has also reached disk"); otherwise a power cut could bring the old file back after the
  // new one was reported installed.
  t = performance.now()
  fsyncDirectory(path.dirname(livePath))
  timings.fsyncDir = since(t)

  return { ok: true, value: { oldLinkPath, timings, startedAt } }
}

/**
 * Empties the live database's -wal into the file (or rolls back a hot journal) and proves no
 * outside connection is in the middle of using it. With `force`, a busy database is taken
 * over anyway: the outside process's uncommitted or uncheckpointed work is lost.
 */
function quiesceLive (livePath: string, force: boolean, busyTimeoutMs: number): TaskResult<null> {
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
    return { ok: true, value: null }
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
  const oldLinkPath = path.join(path.dirname(livePath),
    `.${path.basename(livePath)}.hotswap-old-${randomBytes(6).toString('hex')}`)
  try {
    fs.linkSync(livePath, oldLinkPath)
    return oldLinkPath
  } catch {
    return null
  }
}

function fsyncDirectory (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

// ---------------------------------------------------------------------------------------------
// snapshot and readSourceThroughSqlite

export interface SnapshotInput {
  livePath: string
  destPath: string
}

export interface ReadSourceInput {
  srcPath: string
  destPath: string
}

export interface SnapshotOutput {
  bytes: number
  ms: number
}

/** A consistent copy of the live database, made while other processes keep writing. */
export function snapshot (input: SnapshotInput): TaskResult<SnapshotOutput> {
  return vacuumInto(input.livePath, input.destPath)
}

/**
 * Reads a local source database through SQLite into destPath. A raw copy of a file with a
 * -wal beside it misses the committed rows still in the -wal, with every check passing.
 */
export function readSourceThroughSqlite (input: ReadSourceInput): TaskResult<SnapshotOutput> {
  return vacuumInto(input.srcPath, input.destPath)
}

/**
 * `VACUUM INTO` copies the database inside one read transaction, so writers in other
 * processes keep committing and the copy never restarts. better-sqlite3's default backup()
 * copies 100 pages per step and starts over whenever another connection writes; at 10
 * commits/s it never finished a 200 MB snapshot. (https://www.sqlite.org/lang_vacuum.html)
 *
 * The output is a rollback-journal database and is not fsynced by SQLite; validate() fsyncs
 * a file before it is installed.
 */
function vacuumInto (srcPath: string, destPath: string): TaskResult<SnapshotOutput> {
  const t = performance.now()
  // VACUUM INTO accepts an empty existing file, so the destination is created here,
  // exclusively and private (0600), rather than by SQLite with the umask's permissions.
  try {
    fs.closeSync(fs.openSync(destPath, 'wx', 0o600))
  } catch (err) {
    return failure('HOTSWAP_ERR_DESTINATION', `cannot create ${destPath}: ${errorMessage(err)}`)
  }
  let db: Database.Database | undefined
  let succeeded = false
  try {
    try {
      // Read-only: the source is production, or a user's file we must not change.
      db = new Database(srcPath, { readonly: true, fileMustExist: true, timeout: 5000 })
      db.pragma('cache_size = -2000')
      db.prepare('SELECT count(*) FROM sqlite_master').get()
    } catch (err) {
      if (sqliteCode(err) === undefined && !(err instanceof TypeError)) throw err
      return failure('HOTSWAP_ERR_SOURCE', `cannot read ${srcPath} as a SQLite database: ${errorMessage(err)}`)
    }
    try {
      db.prepare('VACUUM INTO ?').run(destPath)
    } catch (err) {
      const code = sqliteCode(err)
      if (code === undefined) throw err
      const source = code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_BUSY')
      if (code === 'SQLITE_FULL') {
        let needed = 0
        try { needed = fs.statSync(srcPath).size } catch { /* only for the message */ }
        return failure('HOTSWAP_ERR_NO_SPACE', `no space left beside ${destPath} for a copy of ${srcPath} (up to ${needed} bytes)`)
      }
      return failure(source ? 'HOTSWAP_ERR_SOURCE' : 'HOTSWAP_ERR_DESTINATION',
        `cannot copy ${srcPath} to ${destPath}: ${code}: ${errorMessage(err)}`)
    }
    succeeded = true
  } finally {
    db?.close()
    if (!succeeded) {
      fs.rmSync(destPath, { force: true })
      fs.rmSync(destPath + '-journal', { force: true })
    }
  }
  return { ok: true, value: { bytes: fs.statSync(destPath).size, ms: since(t) } }
}

// ---------------------------------------------------------------------------------------------
// helpers

function failure (code: ErrorCode, message: string, details: string[] = []): Failure {
  return { ok: false, code, message, details }
}

/** Epoch milliseconds, to the microsecond; the same clock as TaskPool's in the main thread. */
function clock (): number {
  return performance.timeOrigin + performance.now()
}

function since (start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000
}

/** better-sqlite3's SqliteError carries SQLite's (extended) result code name. */
function sqliteCode (err: unknown): string | undefined {
  if (err instanceof Database.SqliteError) return err.code
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function readHead (file: string): { head: Buffer, size: number } {
  const fd = fs.openSync(file, 'r')
  try {
    return readHeadFd(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function fsyncAndReadHead (file: string): { head: Buffer, size: number } {
  // Opened for writing only because some platforms refuse fsync on a read-only descriptor.
  const fd = fs.openSync(file, 'r+')
  try {
    fs.fsyncSync(fd)
    return readHeadFd(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function readHeadFd (fd: number): { head: Buffer, size: number } {
  const size = fs.fstatSync(fd).size
  const buf = Buffer.alloc(HEADER_BYTES)
  const n = fs.readSync(fd, buf, 0, HEADER_BYTES, 0)
  return { head: buf.subarray(0, n), size }
}

function removeSideFiles (file: string): void {
  for (const suffix of SIDE_SUFFIXES) fs.rmSync(file + suffix, { force: true })
}
