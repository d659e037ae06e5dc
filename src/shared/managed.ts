// Which managed database an argument names: the same answer for the client (`hotswap cp`), the
// server's commands and the app's `database()` in a worker.

import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import type { DatabaseInfo } from './messages.js'

/** The path through its symlinks, or as given when it does not exist. */
export function realpathOr (p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}

/** The database named `arg`: by name, else by path (as given, or through symlinks) from `cwd`. */
export function byNameOrPath (arg: string, cwd: string, dbs: DatabaseInfo[]): DatabaseInfo | undefined {
  const byName = dbs.find((d) => d.name === arg)
  if (byName !== undefined) return byName
  const abs = resolve(cwd, arg)
  const real = realpathOr(abs)
  return dbs.find((d) => d.path === real || d.path === abs)
}

/** A `cp` side: never `-` (stdin/stdout); `database` means the first one, as in the gem. */
export function findManaged (arg: string, cwd: string, dbs: DatabaseInfo[]): DatabaseInfo | undefined {
  if (arg === '-') return undefined
  return byNameOrPath(arg, cwd, dbs) ?? (arg === 'database' ? dbs[0] : undefined)
}

/** "name (path), …" for messages. */
export function managedList (dbs: DatabaseInfo[]): string {
  return dbs.map((d) => `${d.name} (${d.path})`).join(', ')
}
