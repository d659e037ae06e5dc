// Checks an uploaded temp file before any worker pauses, and prepares it for the rename.
//
//   temp file ─▶ header + size ─▶ integrity_check ─▶ schema vs live ─▶ journal mode = live's
//             ─▶ remove side files ─▶ fsync, header read again ─▶ ValidateOutput
//
// Runs on a pool thread (tasks.ts), never inside the pause.

import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { checkHeader, HEADER_BYTES } from './header.js'
import { clock, errorMessage, failure, since, sqliteCode, type Failure, type TaskResult } from './result.js'
import { readSchema, diffSchemas } from './schema.js'
import { removeSideFiles } from './side-files.js'

/** How many integrity_check messages are worth showing; the rest are counted. */
const MAX_INTEGRITY_DETAILS = 5

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
      // A live database with no schema at all (one `serve --create` made) has nothing for the
      // upload to match: the first push into it brings the schema.
      const diff = liveSchema.length === 0 ? [] : diffSchemas(liveSchema, candidateSchema)
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
