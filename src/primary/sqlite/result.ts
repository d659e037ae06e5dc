// What a task hands back across the thread boundary, and the small helpers every task shares.
//
// Piscina passes a task's return value by structured clone and drops custom properties of a
// thrown error, so expected failures come back as a TaskResult with a coded error; only
// unexpected ones throw. TaskPool.run turns a failed result into a HotswapError on the main
// thread.

import { performance } from 'node:perf_hooks'
import type { ErrorCode } from '../../shared/errors.js'
import { epochNow } from '../../shared/instant.js'

export type TaskResult<T> =
  | { ok: true, value: T }
  | { ok: false, code: ErrorCode, message: string, details: string[] }

export type Failure = Extract<TaskResult<unknown>, { ok: false }>

export function failure (code: ErrorCode, message: string, details: string[] = []): Failure {
  return { ok: false, code, message, details }
}

/** Epoch milliseconds, to the microsecond, comparable across threads (TaskPool stamps with it). */
export const clock = epochNow

/** Milliseconds since a performance.now() reading, to the microsecond. */
export function since (start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000
}

/**
 * SQLite's (extended) result code name, as better-sqlite3's SqliteError carries it; undefined
 * for anything else. Read off `code` rather than by `instanceof SqliteError`, so that this
 * module (loaded by the client through header.ts) does not load the addon.
 */
export function sqliteCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

export function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
