// knex on a managed database. knex's better-sqlite3 client opens connections of its own by
// file name, and those know nothing of swaps: they would keep the old file open through the
// install. knex 3.3 accepts an external pool (`connectionPool`), so we hand it one whose only
// "connection" is hotswap's swap-safe handle:
//
//   knex query ─▶ pool.acquire() ─▶ SwapSafeDatabase.prepare(sql) ─▶ current connection
//
// One holder at a time, as knex's own SQLite pool (min 1, max 1) does: a knex transaction keeps
// its connection across awaits, and other queries must not run inside it. The pool never opens
// or closes anything; hotswap does that during a swap, and the handle re-prepares lazily.
// This module imports nothing from knex: it matches the tarn interface knex duck-types
// (acquire/release/destroy/numFree/numUsed/numPendingAcquires).

import { openDatabase } from '../worker/runtime.js'
import type { SwapSafeDatabase } from '../worker/database/handle.js'

export interface KnexPoolOptions {
  /** How long a query may wait for the connection (a transaction holds it), as knex's
   * `acquireConnectionTimeout` (default 60000 ms). */
  acquireTimeoutMs?: number
}

/** A tarn-compatible pool for knex's `connectionPool` option. */
export interface KnexPool {
  acquire: () => { promise: Promise<SwapSafeDatabase> }
  release: (connection: unknown) => boolean
  destroy: () => Promise<void>
  numFree: () => number
  numUsed: () => number
  numPendingAcquires: () => number
}

interface Waiter {
  resolve: (db: SwapSafeDatabase) => void
  timer: NodeJS.Timeout
}

/**
 * knex's `connectionPool` for a managed database (by name or path; the first `--db` by default):
 *
 *   knex({ client: 'better-sqlite3', connectionPool: knexPool(), useNullAsDefault: true })
 */
export function knexPool (nameOrPath?: string, options: KnexPoolOptions = {}): KnexPool {
  const timeoutMs = options.acquireTimeoutMs ?? 60_000
  let handle: SwapSafeDatabase | null = null
  let held = false
  const waiters: Waiter[] = []
  // Opened at the first query, so building the knex instance at start-up touches no file.
  const db = (): SwapSafeDatabase => (handle ??= openDatabase(nameOrPath))

  return {
    acquire: () => {
      if (!held) {
        held = true
        try {
          return { promise: Promise.resolve(db()) }
        } catch (err) {
          held = false
          return { promise: Promise.reject(err) }
        }
      }
      return {
        promise: new Promise<SwapSafeDatabase>((resolve, reject) => {
          const waiter: Waiter = {
            resolve,
            timer: setTimeout(() => {
              waiters.splice(waiters.indexOf(waiter), 1)
              reject(new Error(`Knex: Timeout acquiring a connection after ${timeoutMs} ms. The pool is probably full. ` +
                'Are you missing a .transacting(trx) call?'))
            }, timeoutMs),
          }
          waiters.push(waiter)
        }),
      }
    },
    release: () => {
      const next = waiters.shift()
      if (next === undefined) {
        held = false
      } else {
        clearTimeout(next.timer)
        next.resolve(db())
      }
      return true
    },
    // knex does not own an external pool and never calls this; the handle stays open for the
    // rest of the app (hotswap closes it at shutdown).
    destroy: async () => {},
    numFree: () => (held ? 0 : 1),
    numUsed: () => (held ? 1 : 0),
    numPendingAcquires: () => waiters.length,
  }
}
