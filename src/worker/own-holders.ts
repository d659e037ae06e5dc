// Connections the app opened itself. Once a worker has closed its managed connections for a
// pause, any descriptor it still has on a database being swapped (or on its -wal, -shm or
// -journal) belongs to a connection hotswap does not manage: `new Database(path)` in a session
// store or a queue library, knex's own better-sqlite3 pool, an ATTACH on such a connection.
// The primary's /proc scan leaves the workers' pids out (their managed connections are open
// until the pause), so only the worker can tell, here, after the close:
//
//   pauseWorker: drain ─▶ onPause ─▶ close slots ─▶ ownHolders(paths) ─▶ PauseValue.holders
//                                                                         └▶ primary refuses
//
// Only readdir and readlink of /proc/self/fd: the live files are never opened here. POSIX locks
// are per process, and closing any descriptor of the live file would drop the locks of every
// connection this process still has on it (the app's own connection included).
// Measured on these machines: about 0.1 ms for 300 descriptors (test/worker/own-holders.test.ts).

import { readdirSync, readlinkSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

/** The database itself and the files SQLite keeps beside it, named after it. */
const SUFFIXES = ['', '-wal', '-shm', '-journal'] as const

/** How the kernel marks a descriptor whose file was unlinked or renamed over while open. */
const DELETED = ' (deleted)'

/**
 * The files among `paths` (and their side files) that this process still has open, as
 * /proc/self/fd shows them (a " (deleted)" suffix kept: the old file of an earlier forced swap
 * still counts, since such a connection reaches the live -wal and -shm by name). Empty where
 * /proc does not exist in this form (only Linux has it).
 */
export function ownHolders (paths: string[]): string[] {
  if (process.platform !== 'linux' || paths.length === 0) return []
  const targets = new Set<string>()
  for (const p of paths) {
    for (const base of spellings(p)) for (const suffix of SUFFIXES) targets.add(base + suffix)
  }
  let fds: string[]
  try {
    fds = readdirSync('/proc/self/fd')
  } catch {
    return []
  }
  const found = new Set<string>()
  for (const fd of fds) {
    let target: string
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue // Closed since the readdir (the readdir's own descriptor is one of them).
    }
    const bare = target.endsWith(DELETED) ? target.slice(0, -DELETED.length) : target
    if (targets.has(bare)) found.add(target)
  }
  return [...found]
}

/** The path as given, and with its directory's symlinks resolved (the spelling /proc shows). */
function spellings (p: string): string[] {
  const abs = resolve(p)
  const out = [abs]
  try {
    const real = join(realpathSync(dirname(abs)), basename(abs))
    if (real !== abs) out.push(real)
  } catch {
    // The directory is gone: the spelling as given is all there is.
  }
  return out
}
