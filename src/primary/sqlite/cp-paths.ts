// Which local files a `cp` may write (a pull's destination) or read (a push's source), decided
// before any byte is written, the same way by the server (our client's path mode, the gem's
// client) and by our client (a streamed pull):
//
//   pull DST ─▶ a directory gets SRC's name inside it; a symlink is followed (its target is
//               written, the link stays); `..` and linked directories are spelled out (realpath)
//            ─▶ refused, as usage errors (exit 2) with nothing written: a missing directory, a
//               directory, a socket, a name too long, a managed database (BOTH_MANAGED), its
//               -wal/-shm/-journal, a `.NAME.hotswap-` name (hotswap's own temp files); its lock file by any name
//            ─▶ a regular file or a new name: a temp file beside it, fsync, rename over it;
//               anything else (a FIFO, a device): opened and written through, never renamed over
//
// Files are compared by path and by device + inode, so a hard link or another spelling of a
// managed file is caught too. Only stat/lstat/realpath touch the live files here: none of them
// opens one, so no POSIX lock of this process's SQLite connections is dropped.

import { fstatSync, readdirSync, realpathSync, statSync, lstatSync, type Stats } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import { SIDE_SUFFIXES } from './side-files.js'
import { isReservedName, lockPathFor } from './temp-files.js'

/** Linux's NAME_MAX on every common filesystem. */
const NAME_MAX = 255

export interface PullDestination {
  /** Absolute, its directory's symlinks resolved; a symlink named as DST is followed. */
  path: string
  /** Not a regular file (a FIFO, a device): written through, never replaced. */
  through: boolean
  /** The destination's stat (null: a new file). */
  st: Stats | null
}

function usage (message: string): HotswapError {
  return new HotswapError('HOTSWAP_ERR_USAGE', message)
}

/** stat (or lstat) that returns null for a missing path; other failures are named errors. */
function statOr (p: string, shown: string, follow = true): Stats | null {
  try {
    return follow ? statSync(p) : lstatSync(p)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    if (code === 'ENAMETOOLONG') throw usage(`cannot write ${shown}: the name is too long`)
    if (code === 'ELOOP') throw usage(`cannot write ${shown}: too many levels of symbolic links`)
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${shown}: ${(err as Error).message}`)
  }
}

function sameFile (a: Stats | null, b: Stats | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino
}

/** A managed file's stat for comparing, null when it cannot be seen (a client elsewhere). */
function quietStat (p: string): Stats | null {
  try { return statSync(p) } catch { return null }
}

/**
 * Refuses `path` (absolute, directory resolved) when it is a managed database, one of its side
 * files, or one of hotswap's temp names. `st` is its stat, null when it does not exist.
 * `what` says what the cp would do with it ("write", "push from").
 */
export function refuseManagedFile (path: string, st: Stats | null, dbs: DatabaseInfo[], what: string): void {
  for (const db of dbs) {
    if (path === db.path || sameFile(st, quietStat(db.path))) {
      throw new HotswapError('HOTSWAP_ERR_BOTH_MANAGED', `${path} is the managed database ${db.name} (${db.path}); one side must be a file or -`)
    }
    for (const suffix of SIDE_SUFFIXES) {
      const side = `${db.path}${suffix}`
      if (path === side || sameFile(st, quietStat(side))) {
        throw usage(`cannot ${what} ${path}: it is the ${suffix} file of the managed database ${db.name}, and the live database depends on it`)
      }
    }
    // Its lock file under another name (a hard link): reading it here would close a descriptor of
    // the lock file and so drop this server's fcntl lock on it (database-lock.ts).
    const lock = lockPathFor(db.path)
    if (sameFile(st, quietStat(lock))) {
      throw usage(`cannot ${what} ${path}: it is the lock file of the managed database ${db.name} (${lock}), which its server holds`)
    }
  }
  const name = basename(path)
  if (isReservedName(name)) {
    throw usage(`cannot ${what} ${path}: names like .NAME.hotswap-… are hotswap's temp files (deleted at the next start)`)
  }
}

/**
 * Where a pull of `src` to `dst` (as the user typed them, relative to `cwd`) writes. `onServer`:
 * the path came from a client, and the server's own stdin/stdout/stderr are refused.
 */
export function pullDestination (dst: string, cwd: string, src: string, dbs: DatabaseInfo[], onServer = false): PullDestination {
  if (dst === '') throw usage('DST is empty: name a file, a directory, or - for stdout')
  let path = resolve(cwd, dst)
  let st = statOr(path, dst)
  if (st?.isDirectory() === true) {
    path = join(path, basename(src))
    st = statOr(path, dst)
  } else if (st === null && dst.endsWith('/')) {
    throw usage(`cannot write ${dst}: no such directory`)
  }
  const lst = statOr(path, dst, false)
  if (lst === null) {
    const dir = dirname(path)
    const dirSt = statOr(dir, dst)
    if (dirSt === null) throw usage(`cannot write ${dst}: its directory ${dir} does not exist`)
    if (!dirSt.isDirectory()) throw usage(`cannot write ${dst}: ${dir} is not a directory`)
    path = join(realpathSync(dir), basename(path))
  } else if (lst.isSymbolicLink()) {
    if (st === null) throw usage(`cannot write ${dst}: it is a symbolic link to a file that does not exist`)
    // A regular target is replaced by a temp file renamed over it in its own directory; a
    // special one (/dev/stdout's /proc link included) is opened through the link.
    if (st.isFile()) path = realpathSync(path)
  } else {
    path = join(realpathSync(dirname(path)), basename(path))
  }
  if (st?.isDirectory() === true) throw usage(`cannot write ${dst}: ${path} is a directory`)
  if (onServer && st !== null) refuseServerStdio(path, st)
  if (st?.isSocket() === true) throw usage(`cannot write ${dst}: ${path} is a socket`)
  if (Buffer.byteLength(basename(path)) > NAME_MAX) throw usage(`cannot write ${dst}: the name is longer than ${NAME_MAX} bytes`)
  refuseManagedFile(path, st, dbs, 'write')
  if (onServer && st !== null) refuseServerOwnFile(path, st)
  return { path, through: st !== null && !st.isFile(), st }
}

/** A push's local source, refused when it is a managed database's side file or a temp name. */
export function refuseManagedSource (src: string, cwd: string, dbs: DatabaseInfo[]): void {
  const abs = resolve(cwd, src)
  let st: Stats | null
  let real = abs
  try {
    st = statSync(abs)
    real = realpathSync(abs)
  } catch {
    return // Reported as unreadable by the caller.
  }
  refuseManagedFile(real, st, dbs, 'push from')
}

/**
 * On the server: a destination that is the server's own stdin, stdout or stderr (the gem's
 * client sends `/dev/stdout` as it is typed, and there it names the server's log) is refused;
 * `-` streams to the client. So is any other file the server has open: `/dev/fd/N` (a shell's
 * `>(gzip > x)`) names the server's descriptor N there, its --log-file (renamed over) or the
 * pipe of a worker's output (the snapshot logged as the worker's lines). /dev/null is harmless
 * wherever the server's output goes. Descriptors are compared by stat through /proc/self/fd
 * (refuseServerOwnFile), which opens none of them.
 */
function isDevNull (st: Stats): boolean {
  let devNull: Stats | null = null
  try { devNull = statSync('/dev/null') } catch { /* no /dev here */ }
  return st.isCharacterDevice() && devNull !== null && st.rdev === devNull.rdev
}

function refuseServerStdio (path: string, st: Stats): void {
  if (isDevNull(st)) return
  for (const [fd, name] of [[0, 'stdin'], [1, 'stdout'], [2, 'stderr']] as const) {
    let own: Stats
    try { own = fstatSync(fd) } catch { continue }
    if (sameFile(st, own)) throw usage(`cannot write ${path}: on the server it is the server's own ${name}; pull to - to get the bytes`)
  }
}

/** On the server, after the managed files (which are refused by name): any other file it has open. */
function refuseServerOwnFile (path: string, st: Stats): void {
  if (isDevNull(st)) return
  let fds: string[] = []
  try { fds = readdirSync('/proc/self/fd') } catch { /* no /proc */ }
  for (const fd of fds) {
    if (sameFile(st, quietStat(`/proc/self/fd/${fd}`))) {
      throw usage(`cannot write ${path}: on the server it is a file the server itself has open (descriptor ${fd}); pull to - to get the bytes`)
    }
  }
}
