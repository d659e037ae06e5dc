// db.transaction(fn) across swaps: better-sqlite3 binds a transaction function to one
// connection, so the wrapper looks the current connection up at each call and makes the
// transaction again when the slot's generation has moved on (a swap reopened it).

import type Database from 'better-sqlite3'
import type { Slot } from './slot.js'

// any[], as better-sqlite3's own typing has it: a function with typed parameters, such as
// (name: string) => ..., must be accepted, and unknown[] parameters would refuse it.
export type TxFn = (...args: any[]) => unknown

/**
 * better-sqlite3's Transaction<F> itself: the function's parameters and return, in each of its
 * modes (default, deferred, immediate, exclusive), so a handle passes for a better-sqlite3 Database.
 */
export type SwapSafeTransaction<F extends TxFn> = Database.Transaction<F>

/** db.transaction(fn) of a slot: the transaction of its current connection, made again after a reopen. */
export function swapSafeTransaction<F extends TxFn> (slot: Slot, fn: F): SwapSafeTransaction<F> {
  let generation = -1
  let tx: Database.Transaction<F> | null = null
  const current = (): Database.Transaction<F> => {
    const conn = slot.conn()
    if (tx === null || generation !== slot.generation) {
      tx = conn.transaction(fn)
      generation = slot.generation
    }
    return tx
  }
  // Each mode calls the same mode of the current connection's transaction.
  const inMode = (mode: 'default' | 'deferred' | 'immediate' | 'exclusive') =>
    function (this: unknown, ...args: unknown[]): ReturnType<F> { return current()[mode].apply(this, args as never) }
  return Object.assign(inMode('default'), {
    default: inMode('default'),
    deferred: inMode('deferred'),
    immediate: inMode('immediate'),
    exclusive: inMode('exclusive'),
  })
}
