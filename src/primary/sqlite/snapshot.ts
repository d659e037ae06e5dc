// The two copies the server makes through SQLite, never as raw bytes, on a pool thread:
//
//   pull:              live db ─▶ snapshot (VACUUM INTO) ─▶ file streamed or renamed to the client
//   push of a local    source with a -wal ─▶ readSourceThroughSqlite (VACUUM INTO) ─▶ temp file
//
// Both are vacuumInto (vacuum-into.ts, shared with the client), its failures worded here.

import fs from 'node:fs'
import { dirname } from 'node:path'
import { availableBytes, availableClause } from './free-space.js'
import { errorMessage, failure, sqliteCode, type TaskResult } from './result.js'
import { vacuumInto } from './vacuum-into.js'

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
  return copyThroughSqlite(input.livePath, input.destPath)
}

/**
 * Reads a local source database through SQLite into destPath. A raw copy of a file with a
 * -wal beside it misses the committed rows still in the -wal, with every check passing.
 */
export function readSourceThroughSqlite (input: ReadSourceInput): TaskResult<SnapshotOutput> {
  return copyThroughSqlite(input.srcPath, input.destPath)
}

/** vacuumInto, with its failures as coded results; an error that is not SQLite's throws. */
function copyThroughSqlite (srcPath: string, destPath: string): TaskResult<SnapshotOutput> {
  const available = availableBytes(dirname(destPath)) // Before the copy takes it, for the message.
  const copied = vacuumInto(srcPath, destPath)
  if (copied.ok) return { ok: true, value: { bytes: copied.bytes, ms: copied.ms } }
  const { step, error } = copied
  if (step === 'create') {
    return failure('HOTSWAP_ERR_DESTINATION', `cannot create ${destPath}: ${errorMessage(error)}`)
  }
  const code = sqliteCode(error)
  if (step === 'open') {
    if (code === undefined && !(error instanceof TypeError)) throw error
    return failure('HOTSWAP_ERR_SOURCE', `cannot read ${srcPath} as a SQLite database: ${errorMessage(error)}`)
  }
  if (code === undefined) throw error
  if (code === 'SQLITE_FULL') {
    const size = (p: string): number => { try { return fs.statSync(p).size } catch { return 0 } } // Only for the message.
    const needed = size(srcPath) + size(`${srcPath}-wal`)
    return failure('HOTSWAP_ERR_NO_SPACE', `no space left beside ${destPath} for a copy of ${srcPath} (it needs up to ${needed} bytes${availableClause(available, 'were')})`)
  }
  const source = code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_BUSY')
  return failure(source ? 'HOTSWAP_ERR_SOURCE' : 'HOTSWAP_ERR_DESTINATION',
    `cannot copy ${srcPath} to ${destPath}: ${code}: ${errorMessage(error)}`)
}
