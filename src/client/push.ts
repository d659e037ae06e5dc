// `hotswap cp SRC LIVE`: a push from this side. The source is checked here, so its errors name
// the path as the user typed it; where the server sees our files it gets the path and copies the
// file itself, else it gets the bytes.
//
//   stdin ─────────────────────────────────────────stdin frames──▶ server (validate, swap) ──▶ "OK"
//   FILE ─▶ readable? ─▶ server sees it? ─yes──▶ its path ────────▶ server copies it in the kernel
//                                       └─no───▶ -wal beside it? VACUUM INTO a snapshot ─▶ stdin frames

import { createReadStream, existsSync, fstatSync, promises as fsp, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { HotswapError } from '../shared/errors.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { refuseManagedSource } from '../primary/sqlite/cp-paths.js'
import { availableBytes, availableClause } from '../primary/sqlite/free-space.js'
import { journalModeOfHeader } from '../primary/sqlite/header.js'
import { sqliteCode } from '../primary/sqlite/result.js'
import { removeWithSideFiles } from '../primary/sqlite/side-files.js'
import { forwardStdout, runRemote } from './connection.js'
import { flagsOf, type CpOptions } from './cp-options.js'
import { Progress, sizeOfFd, withProgress } from './progress.js'

/** Push stdin's bytes as they come (a pipe, or a file that is the whole database). */
export async function pushStdin (o: CpOptions, tty: boolean): Promise<number> {
  // A regular file's size is announced (at least what is read from its offset): the server checks
  // the room for it before receiving any byte. A pipe's is unknown.
  const size = sizeOfFd(0)
  const progress = new Progress('push', size)
  // stdin redirected from a file is read in 1 MiB pieces; process.stdin reads 64 KiB at a time.
  const input = size === null ? process.stdin : createReadStream('', { fd: 0, autoClose: false, highWaterMark: 1024 * 1024 })
  return await withProgress(progress, async () => (await runRemote({
    socketPath: o.socketPath, args: ['cp', '-', o.dst, ...flagsOf(o)], tty, stdin: progress.count(input), size, onStdout: o.onStdout ?? forwardStdout, onStderr: (c) => progress.print(c),
  })).exit)
}

/** Push by path: the server copies the file (or reads it through SQLite when it has a -wal). */
export async function pushPath (o: CpOptions, tty: boolean, dbs: DatabaseInfo[]): Promise<number> {
  const { src, st: { dev, ino } } = await readableSource(o, dbs)
  const progress = new Progress('push', null)
  return await withProgress(progress, async () => (await runRemote({
    socketPath: o.socketPath,
    args: ['cp', src, o.dst, ...flagsOf(o)],
    source: { dev, ino },
    tty,
    onStdout: o.onStdout ?? forwardStdout,
    onStderr: (c) => progress.print(c),
  })).exit)
}

/** Push by streaming the bytes (the server cannot see this file). */
export async function pushFile (o: CpOptions, tty: boolean, dbs: DatabaseInfo[]): Promise<number> {
  const { src } = await readableSource(o, dbs)
  let snapshot: string | null = null
  let path = src
  try {
    if (existsSync(`${src}-wal`)) {
      // Committed rows may live only in the -wal, and a copy taken during writes can be torn:
      // read the source through SQLite (one consistent VACUUM INTO), never as raw bytes.
      snapshot = join(tmpdir(), `hotswap-push-${randomBytes(6).toString('hex')}.sqlite3`)
      // Loaded here only: most pushes have no -wal, and loading the addon costs start-up time.
      // vacuumInto creates the file private (0600), as the server's snapshots are.
      const { vacuumInto } = await import('../primary/sqlite/vacuum-into.js')
      const available = availableBytes(tmpdir())
      const copied = vacuumInto(src, snapshot)
      if (!copied.ok) {
        const err = copied.error
        if (copied.step === 'create') throw err
        if (sqliteCode(err) === 'SQLITE_FULL') {
          const size = (p: string): number => { try { return statSync(p).size } catch { return 0 } }
          throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left in ${tmpdir()} for a consistent copy of ${o.src} (it needs up to ${size(src) + size(`${src}-wal`)} bytes${availableClause(available, 'were')}); set TMPDIR to a directory with room`)
        }
        throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${o.src} (it has a -wal beside it) through SQLite: ${(err as Error).message}`)
      }
      path = snapshot
    }
    const size = statSync(path).size
    const progress = new Progress('push', size)
    return await withProgress(progress, async () => (await runRemote({
      socketPath: o.socketPath,
      args: ['cp', '-', o.dst, ...flagsOf(o)],
      tty,
      stdin: progress.count(createReadStream(path, { highWaterMark: 1024 * 1024 })),
      size, // The server checks the room for it before receiving any byte.
      onStdout: o.onStdout ?? forwardStdout,
      onStderr: (c) => progress.print(c),
    })).exit)
  } finally {
    if (snapshot !== null) removeWithSideFiles(snapshot)
  }
}

/**
 * The file stdin is redirected from, when it is a database with a -wal beside it; null when
 * stdin is not a regular file, or has no -wal (its bytes are then the whole database). The
 * path comes from /proc/self/fd/0 (Linux) and must name the very file on fd 0. A WAL-mode
 * database whose path cannot be found (deleted, or no /proc) is refused: its -wal cannot be
 * looked for, and rows only there would be lost without a word.
 */
export function databaseBehindStdin (): string | null {
  let st: Stats
  try {
    st = fstatSync(0)
  } catch {
    return null
  }
  if (!st.isFile()) return null
  let path: string | null = null
  try {
    const named = readlinkSync('/proc/self/fd/0')
    const same = statSync(named)
    if (named.startsWith('/') && same.dev === st.dev && same.ino === st.ino) path = named
  } catch { /* no /proc, or the file was deleted or renamed */ }
  if (path !== null) return existsSync(`${path}-wal`) ? path : null
  // pread: the stream that sends stdin still starts at its beginning.
  const head = Buffer.alloc(20)
  const n = readSync(0, head, 0, head.length, 0)
  if (journalModeOfHeader(head.subarray(0, n)) !== 'wal') return null
  throw new HotswapError('HOTSWAP_ERR_SOURCE',
    'stdin is a WAL-mode database whose path cannot be found, so its -wal (rows committed but not yet checkpointed) cannot be read; ' +
    'push it by name: hotswap cp FILE LIVE')
}

/**
 * The source, checked readable here so that its error names the path as the user typed it.
 * Symlinks are resolved: SQLite keeps a linked database's -wal beside the link's target, so
 * `${link}-wal` would not be there and the rows in it would be lost to a raw copy.
 */
async function readableSource (o: CpOptions, dbs: DatabaseInfo[]): Promise<{ src: string, st: Stats }> {
  refuseManagedSource(o.src, process.cwd(), dbs)
  try {
    const src = realpathSync(resolve(o.src))
    const st = statSync(src)
    if (!st.isFile()) throw new Error('not a regular file')
    await fsp.access(src, fsp.constants.R_OK)
    return { src, st }
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${o.src}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
}
