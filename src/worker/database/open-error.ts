// better-sqlite3's open errors name no file ("unable to open database file", "Cannot open
// database because the directory does not exist"). This adds the path, and what the file system
// says about it, to the error itself: its class (SqliteError, TypeError) and code stay, so code
// that checks `err.code === 'SQLITE_CANTOPEN'` keeps working.

import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DatabaseOptions } from './open-options.js'

/** `err` (an open of `path` failed) with the path and the likely reason in its message. */
export function withPath (err: unknown, path: string, options: DatabaseOptions): unknown {
  if (!(err instanceof Error) || err.message.includes(path)) return err
  const reason = /directory does not exist/.test(err.message) ? '' : reasonFor(path, options)
  const before = err.message
  err.message = `${before}: ${path}${reason === '' ? '' : ` (${reason})`}`
  // V8 formats `stack` when it is first read: it may hold the new message already.
  if (typeof err.stack === 'string' && !err.stack.includes(err.message)) err.stack = err.stack.replace(before, err.message)
  return err
}

function reasonFor (path: string, options: DatabaseOptions): string {
  const dir = dirname(path)
  if (!existsSync(dir)) return `its directory ${dir} does not exist`
  if (!existsSync(path)) {
    if (options.fileMustExist === true) return 'no such file' // Given, or a managed database's.
    if (options.readonly === true) return 'no such file, and a readonly open does not create one'
    return canAccess(dir, constants.W_OK | constants.X_OK) ? '' : `the directory ${dir} is not writable, so the file cannot be created`
  }
  try {
    if (statSync(path).isDirectory()) return 'it is a directory'
  } catch { /* raced away: nothing more to say */ }
  const mode = options.readonly === true ? constants.R_OK : constants.R_OK | constants.W_OK
  if (!canAccess(path, mode)) return `permission denied: ${options.readonly === true ? 'read' : 'read and write'} access needed`
  return ''
}

function canAccess (path: string, mode: number): boolean {
  try {
    accessSync(path, mode)
    return true
  } catch {
    return false
  }
}
