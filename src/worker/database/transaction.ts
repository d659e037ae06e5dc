// db.transaction(fn) across swaps: better-sqlite3 binds a transaction function to one
// connection, so the wrapper looks the current connection up at each call and makes the
// transaction again when the slot's generation has moved on (a swap reopened it).

import type Database from 'better-sqlite3'
import type { Slot } from './slot.js'

// any[], as better-sqlite3's own typing has it: a function with typed parameters, such as
// (name: string) => ..., must be accepted, and unknown[] parameters would refuse it.
export type TxFn = (...args: any[]) => unknown

export interface SwapSafeTransaction<F extends TxFn> {
  (...args: Parameters<F>): ReturnType<F>
  deferred: (...args: Parameters<F>) => ReturnType<F>
  immediate: (...args: Parameters<F>) => ReturnType<F>
  exclusive: (...args: Parameters<F>) => ReturnType<F>
}

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
  const wrapper = function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
    return current().apply(this, args as never) as ReturnType<F>
  } as SwapSafeTransaction<F>
  wrapper.deferred = function (this: unknown, ...args) { return current().deferred.apply(this, args as never) as ReturnType<F> }
  wrapper.immediate = function (this: unknown, ...args) { return current().immediate.apply(this, args as never) as ReturnType<F> }
  wrapper.exclusive = function (this: unknown, ...args) { return current().exclusive.apply(this, args as never) as ReturnType<F> }
  return wrapper
}
