// `hotswap cp SRC DST` on the client side. Exactly one side is a managed database; `-` is
// stdin/stdout.
//   push  local file / stdin ──stdin frames──▶ server (validate, swap) ──▶ "OK"
//   pull  server snapshot ──stdout frames──▶ stdout, or a temp file renamed into place
// When the server sees the client's files (same user, same mount namespace), a local FILE is
// sent as its path instead: the server copies it in the kernel, or writes the snapshot in
// place, and no byte crosses the socket. A server in another container gets the bytes.

import { constants, createReadStream, existsSync, fstatSync, promises as fsp, readlinkSync, readSync, realpathSync, statSync, writeSync, type Stats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ExitCodes, HotswapError } from '../shared/errors.js'
import { findManaged, managedList } from '../shared/managed.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { seesOurFiles } from '../shared/same-files.js'
import type { StatusReport } from '../shared/status-report.js'
import { pullDestination, refuseManagedSource, type PullDestination } from '../primary/sqlite/cp-paths.js'
import { journalModeOfHeader } from '../primary/sqlite/header.js'
import { sqliteCode } from '../primary/sqlite/result.js'
import { removeWithSideFiles } from '../primary/sqlite/side-files.js'
import { createExclusive, tempPathFor } from '../primary/sqlite/temp-files.js'
import { writeAllSync } from '../shared/write-all.js'
import { runRemote } from './connection.js'
import { Progress, sizeOfFd, withProgress } from './progress.js'

export interface CpOptions {
  src: string
  dst: string
  socketPath: string
  skipIntegrityCheck: boolean
  skipSchemaCheck: boolean
  force: boolean
}

/** The managed databases, and whether the server sees this client's files (`status --json`). */
async function serverFacts (socketPath: string): Promise<StatusReport> {
  const chunks: Buffer[] = []
  const reply = await runRemote({
    socketPath,
    args: ['status', '--json'],
    tty: false,
    onStdout: (c) => { chunks.push(c) },
    onStderr: () => {},
  })
  if (reply.exit !== ExitCodes.ok) throw new HotswapError('HOTSWAP_ERR_CONNECTION_LOST', `the server did not list its databases: ${reply.error ?? 'unknown error'}`)
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusReport
}

function flagsOf (o: CpOptions): string[] {
  return [
    ...(o.skipIntegrityCheck ? ['--skip-integrity-check'] : []),
    ...(o.skipSchemaCheck ? ['--skip-schema-check'] : []),
    ...(o.force ? ['--force'] : []),
  ]
}

const forward = {
  onStdout: (c: Buffer): void | Promise<void> => {
    if (process.stdout.write(c)) return
    return new Promise<void>((resolve) => process.stdout.once('drain', resolve))
  },
}

/**
 * A pull's bytes to this process's stdout, and what became of them. A full disk under
 * `> backup.sqlite3`, or a pipe whose reader failed, is reported by stdout as an 'error'
 * event; with no listener the CLI died with a stack trace (or waited for a 'drain' that
 * never came). Here it stops the pull with a coded error. A file (or a device) is written
 * here, to fd 1, to the last byte: Node's stream for it (SyncWriteStream) ignores the count
 * writeSync returns, and a disk that filled during the last write lost its end without a word.
 */
function stdoutSink (): { write: (c: Buffer) => void | Promise<void>, flush: () => Promise<void> } {
  let failure: NodeJS.ErrnoException | null = null
  let handed = 0
  let wake: (() => void) | null = null
  let direct = false
  try {
    const st = fstatSync(1)
    direct = process.stdout.isTTY !== true && (st.isFile() || st.isCharacterDevice() || st.isBlockDevice())
  } catch { /* no fd 1: process.stdout reports it */ }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { failure ??= err; wake?.() })
  const check = (): void => {
    if (failure === null) return
    if (failure.code === 'ENOSPC' || failure.code === 'EDQUOT') {
      throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left on stdout: the snapshot stopped within its first ${handed} bytes`)
    }
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write stdout (${failure.message}): the snapshot stopped within its first ${handed} bytes`)
  }
  return {
    write: (c) => {
      check()
      if (direct) {
        try {
          writeAllSync((buf, off) => { const n = writeSync(1, buf, off); handed += n; return n }, c)
        } catch (err) {
          failure = err as NodeJS.ErrnoException
          check()
        }
        return
      }
      handed += c.length
      if (process.stdout.write(c)) return
      return new Promise<void>((resolve, reject) => {
        wake = () => { try { check() } catch (err) { reject(err) } }
        process.stdout.once('drain', () => { wake = null; resolve() })
      })
    },
    flush: async () => {
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
      await new Promise((resolve) => setImmediate(resolve))
      check()
    },
  }
}

export async function cp (o: CpOptions): Promise<number> {
  if (o.src === '-' && o.dst === '-') throw new HotswapError('HOTSWAP_ERR_USAGE', 'SRC and DST cannot both be -')
  const tty = process.stderr.isTTY === true
  if (o.src === '-') {
    // stdin redirected from a database whose builder still has it open may hold committed rows
    // only in the -wal beside it: push that file as `cp FILE LIVE` would, through SQLite.
    const behind = databaseBehindStdin()
    if (behind !== null) return await pushFile({ ...o, src: behind }, tty, (await serverFacts(o.socketPath)).databases)
    const size = sizeOfFd(0)
    const progress = new Progress('push', size)
    // stdin redirected from a file is read in 1 MiB pieces; process.stdin reads 64 KiB at a time.
    const input = size === null ? process.stdin : createReadStream('', { fd: 0, autoClose: false, highWaterMark: 1024 * 1024 })
    return await withProgress(progress, async () => (await runRemote({
      socketPath: o.socketPath, args: ['cp', '-', o.dst, ...flagsOf(o)], tty, stdin: progress.count(input), onStdout: forward.onStdout, onStderr: (c) => progress.print(c),
    })).exit)
  }
  if (o.dst === '-') {
    process.stdin.destroy() // A pull reads nothing from stdin.
    const progress = new Progress('pull', null)
    const out = stdoutSink()
    return await withProgress(progress, async () => {
      const { exit } = await runRemote({
        socketPath: o.socketPath,
        args: ['cp', o.src, '-'],
        tty,
        onStdout: (c) => { progress.add(c.length); return out.write(c) },
        onStderr: (c) => progress.print(c),
      })
      await out.flush() // A write that failed after the last chunk is a failed pull too.
      return exit
    })
  }
  const facts = await serverFacts(o.socketPath)
  const dbs = facts.databases
  const srcManaged = findManaged(o.src, process.cwd(), dbs) !== undefined
  const dstManaged = findManaged(o.dst, process.cwd(), dbs) !== undefined
  if (srcManaged && dstManaged) throw new HotswapError('HOTSWAP_ERR_BOTH_MANAGED', `both ${o.src} and ${o.dst} are managed databases; one side must be a file or -`)
  if (!srcManaged && !dstManaged) throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED', `neither ${o.src} nor ${o.dst} is a managed database (managed: ${managedList(dbs)})`)
  // Where the server sees our files, it reads and writes them itself: a push is then a copy in
  // the kernel and a pull a snapshot written in place, with no byte through the socket.
  const local = seesOurFiles(facts.primary)
  if (dstManaged) return local ? await pushPath(o, tty, dbs) : await pushFile(o, tty, dbs)
  // Checked here, before anything is written (src/primary/sqlite/cp-paths.ts). A FIFO or a device is
  // written here, through: /dev/stdout names this process's stdout, not the server's.
  const target = pullDestination(o.dst, process.cwd(), o.src, dbs)
  return local && !target.through ? await pullPath(o, tty, target) : await pullFile(o, tty, target)
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

/** Push by path: the server copies the file (or reads it through SQLite when it has a -wal). */
async function pushPath (o: CpOptions, tty: boolean, dbs: DatabaseInfo[]): Promise<number> {
  const { src, st: { dev, ino } } = await readableSource(o, dbs)
  const progress = new Progress('push', null)
  return await withProgress(progress, async () => (await runRemote({
    socketPath: o.socketPath,
    args: ['cp', src, o.dst, ...flagsOf(o)],
    source: { dev, ino },
    tty,
    onStdout: forward.onStdout,
    onStderr: (c) => progress.print(c),
  })).exit)
}

/**
 * The file stdin is redirected from, when it is a database with a -wal beside it; null when
 * stdin is not a regular file, or has no -wal (its bytes are then the whole database). The
 * path comes from /proc/self/fd/0 (Linux) and must name the very file on fd 0. A WAL-mode
 * database whose path cannot be found (deleted, or no /proc) is refused: its -wal cannot be
 * looked for, and rows only there would be lost without a word.
 */
function databaseBehindStdin (): string | null {
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

/** Push by streaming the bytes (the server cannot see this file). */
async function pushFile (o: CpOptions, tty: boolean, dbs: DatabaseInfo[]): Promise<number> {
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
      const copied = vacuumInto(src, snapshot)
      if (!copied.ok) {
        const err = copied.error
        if (copied.step === 'create') throw err
        if (sqliteCode(err) === 'SQLITE_FULL') {
          const size = (p: string): number => { try { return statSync(p).size } catch { return 0 } }
          throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left in ${tmpdir()} for a consistent copy of ${o.src} (up to ${size(src) + size(`${src}-wal`)} bytes); set TMPDIR to a directory with room`)
        }
        throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${o.src} (it has a -wal beside it) through SQLite: ${(err as Error).message}`)
      }
      path = snapshot
    }
    const progress = new Progress('push', statSync(path).size)
    return await withProgress(progress, async () => (await runRemote({
      socketPath: o.socketPath,
      args: ['cp', '-', o.dst, ...flagsOf(o)],
      tty,
      stdin: progress.count(createReadStream(path, { highWaterMark: 1024 * 1024 })),
      onStdout: forward.onStdout,
      onStderr: (c) => progress.print(c),
    })).exit)
  } finally {
    if (snapshot !== null) removeWithSideFiles(snapshot)
  }
}

function isOurStdout (target: PullDestination): boolean {
  if (!target.through || target.st === null) return false
  try {
    const out = fstatSync(1)
    return out.dev === target.st.dev && out.ino === target.st.ino
  } catch {
    return false
  }
}

/** Pull by path: the server writes the snapshot beside DST, fsyncs it and renames it in. */
async function pullPath (o: CpOptions, tty: boolean, target: PullDestination): Promise<number> {
  const progress = new Progress('pull', null)
  return await withProgress(progress, async () => (await runRemote({
    socketPath: o.socketPath, args: ['cp', o.src, target.path], tty, onStdout: forward.onStdout, onStderr: (c) => progress.print(c),
  })).exit)
}

/**
 * Pull by streaming the snapshot here (the server cannot see DST, or DST is a FIFO or a device):
 * into a temp file renamed over DST, or written through into a FIFO or a device, never
 * replacing it (opened without O_CREAT; a FIFO's open waits for its reader, as a shell's does).
 */
async function pullFile (o: CpOptions, tty: boolean, target: PullDestination): Promise<number> {
  const dest = target.path
  const temp = target.through ? null : tempPathFor(dest)
  let fh: fsp.FileHandle
  try {
    fh = temp === null ? await fsp.open(dest, constants.O_WRONLY | constants.O_NOCTTY) : await createExclusive(temp)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${o.dst}: ${(err as Error).message}`)
  }
  let ok = false
  let written = 0
  const progress = new Progress('pull', null)
  try {
    return await withProgress(progress, async () => {
      const reply = await runRemote({
        socketPath: o.socketPath,
        args: ['cp', o.src, '-'],
        tty,
        // Written at once (a file takes it): no thread pool round trip per socket chunk. Every
        // byte is written; a full disk is named with what got there.
        onStdout: (c) => {
          progress.add(c.length)
          try {
            writeAllSync((buf, off) => { const n = writeSync(fh.fd, buf, off); written += n; return n }, c)
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code
            if (code === 'ENOSPC' || code === 'EDQUOT') throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left for ${dest}: wrote ${written} bytes of the snapshot`)
            throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${dest}: ${(err as Error).message} (wrote ${written} bytes of the snapshot)`)
          }
        },
        onStderr: (c) => progress.print(c),
      })
      if (reply.exit !== ExitCodes.ok) return reply.exit
      progress.endTransfer()
      if (temp !== null) await fh.sync()
      await fh.close()
      if (temp !== null) await fsp.rename(temp, dest)
      ok = true
      // Not after the database's bytes when DST is this process's stdout (/dev/stdout, a pipe).
      if (!isOurStdout(target)) process.stdout.write('OK\n')
      return ExitCodes.ok
    })
  } finally {
    if (!ok) {
      await fh.close().catch(() => {})
      if (temp !== null) await fsp.rm(temp, { force: true })
    }
  }
}
