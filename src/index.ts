// The app-facing API, loaded inside workers (and by apps run directly with node).
//
//   import { database, onPause, onResume, gate, release } from 'hotswap'
//   const db = database()   // the first --db; database('cache') by name or path

import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { getRuntime, openDatabase, type SwapHook } from './worker/runtime.js'
import type { SwapSafeDatabase } from './worker/database/handle.js'
import type { DatabaseOptions } from './worker/database/open-options.js'

export { HotswapError, ErrorCodes, type ErrorCode } from './shared/errors.js'
export type { SwapSafeDatabase } from './worker/database/handle.js'
export type { SwapSafeStatement } from './worker/database/statement.js'
export type { SwapSafeIterator } from './worker/database/iterator.js'
export type { SwapSafeTransaction } from './worker/database/transaction.js'
export type { OpenHook } from './worker/database/slot.js'
export type { SwapHook } from './worker/runtime.js'
export type { DatabaseOptions } from './worker/database/open-options.js'
export { knexPool, type KnexPool, type KnexPoolOptions } from './adapters/knex.js'

/**
 * A handle with better-sqlite3's surface that stays valid across swaps. `options` are
 * better-sqlite3's (`readonly`, `fileMustExist`, `timeout`, `verbose`, `nativeBinding`) and apply
 * to every connection the handle opens. Outside `hotswap serve` a missing file is created, as
 * `new Database(path)` does; under serve the managed file must exist (`fileMustExist` is implied).
 */
export function database (nameOrPath?: string, options?: DatabaseOptions): SwapSafeDatabase
/** The first --db (or HOTSWAP_DB outside serve), with better-sqlite3's options. */
export function database (options: DatabaseOptions): SwapSafeDatabase
export function database (nameOrOptions?: string | DatabaseOptions, options?: DatabaseOptions): SwapSafeDatabase {
  if (typeof nameOrOptions === 'object' && nameOrOptions !== null) return openDatabase(undefined, nameOrOptions)
  return openDatabase(nameOrOptions, options)
}

/**
 * Runs before this worker closes its connections for a swap (after in-flight requests end).
 * `fn` gets the names of the managed databases being swapped (`['cache']`); the others stay open.
 */
export function onPause (fn: SwapHook): void {
  getRuntime().pauseHooks.push(fn)
}

/**
 * Runs after this worker reopened its connections, before queued requests are released.
 * `fn` gets the names of the managed databases that were swapped, as its onPause hook did.
 */
export function onResume (fn: SwapHook): void {
  getRuntime().resumeHooks.push(fn)
}

/**
 * Runs background work (timers, queues, jobs) as if it were a request: it waits while a swap
 * is paused, and a swap waits for it to finish.
 */
export function gate<T> (fn: () => T | Promise<T>, label = 'background task'): Promise<T> {
  return getRuntime().gate.run(label, fn)
}

/**
 * Marks a long-lived response (server-sent events, a long poll, a stream) as not holding the
 * database: it stops counting as in flight, so a swap does not wait for it to end. From then on
 * the code behind it must not touch the database outside gate(): while a swap is paused, such
 * a call throws HOTSWAP_ERR_PAUSED. Returns false when the response was not in flight.
 * Outside `hotswap serve` it does nothing.
 */
export function release (res: ServerResponse | Http2ServerResponse): boolean {
  return getRuntime().gate.release(res as ServerResponse)
}

/**
 * Tells `hotswap serve --wait-ready` that this worker may receive traffic (after warming caches,
 * connecting to services, ...). Without --wait-ready a worker is ready when its server listens.
 * Outside `hotswap serve` it does nothing.
 */
export async function ready (): Promise<void> {
  await getRuntime().notifyReady?.()
}

/** True when running under `hotswap serve`. */
export function isManaged (): boolean {
  return getRuntime().mode === 'managed'
}
