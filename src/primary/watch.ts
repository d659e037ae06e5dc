// `serve --watch` (development): a reload when a file under the app's directory changes. What
// the server itself writes there is left out (or every swap and every write of the app would
// restart the workers): the databases and their -wal, -shm and -journal, their .hotswap/
// folders, the lock and temp files beside them (`.NAME.hotswap-…`), the control socket, the log
// file and the spool; node_modules and .git are not descended into (chokidar, unlike fs.watch's
// recursive mode, takes the ignore rule before it walks, so a large node_modules costs no
// inotify watch).
//
//   file event ─▶ ignored? ─▶ wait DEBOUNCE_MS of quiet ─▶ reload() ─▶ (changes meanwhile: one more)

import { realpathSync } from 'node:fs'
import { basename, dirname, resolve, sep } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'
import type { Logger } from '../shared/logger.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { isReservedName } from './sqlite/temp-files.js'

/** An editor's save is several events (write, rename, chmod): one reload for them all. */
export const DEBOUNCE_MS = 300

export interface WatchOptions {
  /** The app file: its directory is watched. */
  app: string
  databases: DatabaseInfo[]
  /** Other files the server writes there: the socket, the log file, the spool. */
  own: Array<string | undefined>
  logger: Logger
  /** The reload to run (it takes the swap lock, so it never overlaps a swap). */
  reload: () => Promise<unknown>
}

const SKIPPED_DIRS = new Set(['node_modules', '.git', '.hotswap'])
const SIDE_FILES = ['', '-wal', '-shm', '-journal']

/** Whether `path` (as the watcher names it, absolute) is one the server writes, or skipped. */
export function ignoredBy (root: string, databases: DatabaseInfo[], own: Array<string | undefined>): (path: string) => boolean {
  const real = realpathOr(root)
  const exact = new Set<string>()
  for (const d of databases) for (const side of SIDE_FILES) exact.add(d.path + side)
  const prefixes = own.filter((p): p is string => p !== undefined && p !== '').map((p) => resolve(p))
  return (path) => {
    const abs = resolve(path)
    const inReal = abs === root || abs.startsWith(root + sep) ? real + abs.slice(root.length) : abs
    // Below the root only: an app that itself lives in a node_modules folder is still watched.
    const below = abs.startsWith(root + sep) ? abs.slice(root.length + 1) : ''
    if (below.split(sep).some((part) => SKIPPED_DIRS.has(part))) return true
    if (isReservedName(basename(abs))) return true
    if (exact.has(abs) || exact.has(inReal)) return true
    return prefixes.some((p) => abs === p || abs.startsWith(p + '.') || abs.startsWith(p + sep) || inReal === p)
  }
}

function realpathOr (p: string): string {
  try { return realpathSync(p) } catch { return p }
}

/** Starts watching; the returned function stops it. */
export function watchForReload (opts: WatchOptions): () => Promise<void> {
  const root = dirname(resolve(opts.app))
  const ignored = ignoredBy(root, opts.databases, opts.own)
  const watcher: FSWatcher = watch(root, { ignored, ignoreInitial: true, persistent: false })
  let timer: NodeJS.Timeout | undefined
  let running = false
  let again = false
  let changed: string[] = []
  const run = async (): Promise<void> => {
    if (running) { again = true; return }
    running = true
    const files = changed.splice(0)
    opts.logger.info(`watch: ${files.length === 1 ? files[0] as string : `${files.length} files`} changed; reloading`, { event: 'watch-reload', files: files.slice(0, 20) })
    try {
      await opts.reload()
    } catch (err) {
      opts.logger.error(`watch: reload failed: ${(err as Error).message}`)
    } finally {
      running = false
      if (again) { again = false; void run() }
    }
  }
  watcher.on('all', (event, path) => {
    if (event === 'addDir' || event === 'unlinkDir') return
    changed.push(path)
    clearTimeout(timer)
    timer = setTimeout(() => { void run() }, DEBOUNCE_MS)
  })
  watcher.on('error', (err) => opts.logger.warn(`watch: ${(err as Error).message}`))
  opts.logger.info(`watch: reloading on changes under ${root}`)
  return async () => {
    clearTimeout(timer)
    await watcher.close()
  }
}
