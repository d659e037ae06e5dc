// Receiving a push: the new database's bytes into a temp file beside the live one, private
// and exclusive from its first byte, fsynced, checked against --max-bytes and the free space.
//
//   cp - LIVE      [announced size ─▶ over --max-bytes? room?] ─▶ stdin frames ─▶ batched writev
//                  ─▶ .NAME.hotswap-XXXX (fsync); the bytes that come are counted all the same
//   cp FILE LIVE   the server's own path: copied in the kernel, or read through SQLite when a
//                  -wal is beside it (committed rows may live only there)
//
// Whatever fails removes the temp file and is reported as a coded error (SOURCE, NO_SPACE,
// TOO_LARGE, ABORTED from the connection's stdin).

import { existsSync, promises as fsp } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { HotswapError } from '../../shared/errors.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import { writeAll } from '../../shared/write-all.js'
import { refuseManagedSource } from '../sqlite/cp-paths.js'
import { checkDatabaseDirectory } from '../sqlite/database-directory.js'
import { availableBytes, availableClause } from '../sqlite/free-space.js'
import { removeWithSideFiles } from '../sqlite/side-files.js'
import { copyPrivately, createExclusive, tempPathFor } from '../sqlite/temp-files.js'
import type { ServerContext, Session } from './session.js'
import { checkRoomForStream, checkRoomForUpload } from './spool.js'

const WRITE_BATCH_BYTES = 4 * 1024 * 1024
/** Tiny frames (a client may send a byte per frame) must not pile up millions of slices. */
const WRITE_BATCH_SLICES = 256

function tooLarge (ctx: ServerContext): HotswapError {
  return new HotswapError('HOTSWAP_ERR_TOO_LARGE', `the upload exceeds the limit of ${ctx.maxBytes} bytes (--max-bytes)`)
}

/** The pushed file as a temp file beside the live one, and how many bytes it holds. */
export async function receive (s: Session, ctx: ServerContext, src: string, db: DatabaseInfo): Promise<{ tempPath: string, bytes: number }> {
  const tempPath = tempPathFor(db.path)
  // What reached the disk, of what came in: a full disk is reported with both.
  let written = 0
  let bytes = 0
  // What the filesystem had free before the copy or the stream began, for a NO_SPACE message.
  let available: number | null = null
  const announced = src === '-' ? s.size : undefined
  try {
    // The folder may have been made unwritable since serve started.
    checkDatabaseDirectory(db.path, `cannot push to ${db.name}`)
    if (src !== '-') {
      // A server-side path: the gem's client sends those, and ours does when the server sees
      // its files (then it says which file it means, and a different one is refused).
      const abs = resolve(s.cwd, src)
      // Never a live database's -wal (reading it with fs here would drop the POSIX locks of the
      // snapshot threads' connections) nor a temp file of another swap.
      refuseManagedSource(src, s.cwd, ctx.databases)
      let st
      try {
        await fsp.access(abs)
        st = await fsp.stat(abs)
      } catch {
        throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${abs}: no such file, or not readable`)
      }
      if (s.source !== undefined && (st.dev !== s.source.dev || st.ino !== s.source.ino)) {
        throw new HotswapError('HOTSWAP_ERR_SOURCE',
          `the server sees another file at ${abs} than the client does (another container or root?); push its bytes: hotswap cp - LIVE < FILE`)
      }
      // A FIFO, a terminal or the server's own stdin/stdout (`/dev/stdin` from the gem's client
      // names the server's) can block its open or read in libuv's thread pool for good, however
      // the client ends: four of them and every fs call of this process waited behind them.
      if (!st.isFile()) {
        throw new HotswapError('HOTSWAP_ERR_SOURCE',
          `cannot read ${abs}: not a regular file (a directory, or the server's own FIFO, device or terminal); stream it from the client: hotswap cp - LIVE < FILE`)
      }
      s.uploadDone() // Nothing more comes from the client.
      // A copy that would fill the live database's filesystem is refused before it starts (one
      // over --max-bytes is refused as that, below).
      if (st.isFile() && st.size <= ctx.maxBytes) checkRoomForUpload(db, abs, ctx.databases)
      available = availableBytes(dirname(db.path))
      // A file with a -wal beside it may hold committed rows only in the -wal: it is read through
      // SQLite, never as raw bytes. SQLite keeps a linked database's -wal beside the link's
      // target, so the target is where to look (`LINK-wal` is never there).
      const real = await fsp.realpath(abs)
      if (existsSync(`${real}-wal`)) {
        await ctx.pool.run('readSourceThroughSqlite', { srcPath: real, destPath: tempPath })
        const fh = await fsp.open(tempPath, 'r+')
        try { await fh.sync() } finally { await fh.close() }
        return { tempPath, bytes: (await fsp.stat(tempPath)).size }
      }
      if (st.isFile()) {
        bytes = st.size
        if (st.size > ctx.maxBytes) {
          throw tooLarge(ctx)
        }
        // Copied by the kernel, exclusive and private from its first byte, like an upload.
        await copyPrivately(abs, tempPath)
        const fh = await fsp.open(tempPath, 'r+')
        try {
          await fh.sync() // Before the pause, as for an upload.
          const { size } = await fh.stat()
          if (size > ctx.maxBytes) {
            throw tooLarge(ctx)
          }
          return { tempPath, bytes: size }
        } finally {
          await fh.close()
        }
      }
    }
    // Our client announces the size of a regular file it streams: one over --max-bytes, or that
    // would not fit beside the live database, is refused before a byte is received. The bytes
    // are still counted against both: a client that announces less cannot get past them.
    if (announced !== undefined) {
      if (announced > ctx.maxBytes) throw tooLarge(ctx)
      checkRoomForStream(db, announced, ctx.databases)
    }
    available = availableBytes(dirname(db.path))
    const fh = await createExclusive(tempPath)
    try {
      const input: Readable = s.stdin
      // Slices are gathered into one writev of ~4 MiB (a write per 64 KiB slice cost a thread
      // pool round trip each); the socket is paused while the disk catches up. Every byte of a
      // batch is written (writeAll): a short last write used to pass as a whole upload.
      const count = (n: number): void => { written += n }
      let batch: Buffer[] = []
      let batched = 0
      for await (const chunk of input) {
        const buf = chunk as Buffer
        bytes += buf.length
        if (bytes > ctx.maxBytes) {
          throw tooLarge(ctx)
        }
        if (announced !== undefined && bytes > announced) {
          throw new HotswapError('HOTSWAP_ERR_SOURCE',
            `the upload is larger than the ${announced} bytes its client announced (did the source grow while it was read?); push it again`)
        }
        batch.push(buf)
        batched += buf.length
        if (batched >= WRITE_BATCH_BYTES || batch.length >= WRITE_BATCH_SLICES) {
          await writeAll(fh, batch, count)
          batch = []
          batched = 0
        }
      }
      if (batch.length > 0) await writeAll(fh, batch, count)
      // fsync before the pause: an un-fsynced file made the rename take 66-83 ms.
      await fh.sync()
      return { tempPath, bytes }
    } finally {
      await fh.close()
    }
  } catch (err) {
    removeWithSideFiles(tempPath)
    if (err instanceof HotswapError) throw err
    const e = err as NodeJS.ErrnoException & { dest?: string }
    // The temp file beside the live one (or its private staging folder, `TEMP.d-…`) is the destination.
    const ours = (p: string | undefined): boolean => p?.startsWith(tempPath) === true
    if ((e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS') && (ours(e.path) || ours(e.dest))) {
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write the new file beside ${db.path}: ${e.message}`)
    }
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${src}: ${e.message}`)
    }
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
      // One line naming what it needs (at least what came) and what was free when it began.
      throw new HotswapError('HOTSWAP_ERR_NO_SPACE', written > 0 || src === '-'
        ? `no space left beside ${db.path} to receive the upload: wrote ${written} of ${bytes} bytes received, so it needs at least ${Math.max(bytes, announced ?? 0)} bytes${availableClause(available, 'were')}`
        : `no space left beside ${db.path} to receive the upload: it needs ${bytes} bytes${availableClause(available, 'were')}`)
    }
    throw err
  } finally {
    s.uploadDone()
  }
}
