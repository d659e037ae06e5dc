// What `database(nameOrPath, options)` accepts: better-sqlite3's `new Database(path, options)`
// options, applied to every connection the handle opens (the first, and each reopen after a swap).
//
//   outside `hotswap serve`: the options as given (a missing file is created, as better-sqlite3
//                            does, unless `fileMustExist`)
//   under `hotswap serve`:   the same, with `fileMustExist` always on: the managed file exists,
//                            and a reopen after a swap must never create an empty one in its place

import type Database from 'better-sqlite3'
import { HotswapError } from '../../shared/errors.js'

export type DatabaseOptions = Database.Options

/** The options every open of a slot passes to better-sqlite3. */
export function openOptions (mode: 'standalone' | 'managed', given: DatabaseOptions | undefined): DatabaseOptions {
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw new TypeError('database(): the options must be an object (better-sqlite3\'s new Database() options)')
  }
  return mode === 'managed' ? { ...given, fileMustExist: true } : { ...given }
}

/** Each option as better-sqlite3 reads it (its defaults filled in), for comparing two calls. */
function effective (o: DatabaseOptions): Record<string, unknown> {
  return { readonly: o.readonly === true, fileMustExist: o.fileMustExist === true, timeout: o.timeout ?? 5000, verbose: o.verbose ?? null, nativeBinding: o.nativeBinding ?? null }
}

/**
 * One connection per database in a process: a second database() call on it with other options
 * would get the first call's connection, so it is refused instead of silently ignored.
 */
export function checkSameOptions (name: string, path: string, open: DatabaseOptions, wanted: DatabaseOptions): void {
  const a = effective(open)
  const b = effective(wanted)
  const differ = Object.keys(a).filter((k) => a[k] !== b[k])
  if (differ.length === 0) return
  throw new HotswapError('HOTSWAP_ERR_CONFIG',
    `database "${name}" (${path}) is open already with other options (${differ.join(', ')}); ` +
    'give the same options at every database() call for it, or none')
}
