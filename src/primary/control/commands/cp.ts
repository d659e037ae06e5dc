// `cp SRC DST` on the socket: exactly one side is a managed database.
//
//   push  receive (upload.ts) ─▶ validate (thread) ─▶ owner and mode of the live file
//         ─▶ coordinator.push (pause, install, resume) ─▶ "OK"
//   pull  snapshot under the swap lock (thread) ─▶ stdout frames, a FIFO or device written
//         through, or a temp file beside DST renamed over it ─▶ "OK"

import { constants, createReadStream, promises as fsp } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { formatBytes } from '../../../shared/format.js'
import { findManaged, managedList } from '../../../shared/managed.js'
import type { DatabaseInfo } from '../../../shared/messages.js'
import { pullDestination } from '../../sqlite/cp-paths.js'
import type { PushReport } from '../../swap/coordinator.js'
import { removeWithSideFiles } from '../../sqlite/side-files.js'
import { tempPathFor } from '../../sqlite/temp-files.js'
import { GEM_SWAPPING } from '../gem-words.js'
import type { ServerContext, Session } from '../session.js'
import { checkRoomForSnapshot, spoolPathFor } from '../spool.js'
import { receive } from '../upload.js'

interface CpArgs {
  src: string
  dst: string
  skipIntegrity: boolean
  skipSchema: boolean
  force: boolean
}

function parseCp (args: string[]): CpArgs {
  const positional: string[] = []
  const out = { skipIntegrity: false, skipSchema: false, force: false }
  for (const a of args) {
    const flag = a.replace(/_/g, '-')
    if (flag === '--skip-integrity-check') out.skipIntegrity = true
    else if (flag === '--skip-schema-check') out.skipSchema = true
    else if (flag === '--force') out.force = true
    else if (a.startsWith('--')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${a} for cp`)
    else positional.push(a)
  }
  if (positional.length !== 2) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `cp takes SRC and DST (got ${positional.length} argument(s))`)
  }
  return { src: positional[0] as string, dst: positional[1] as string, ...out }
}

export async function cp (s: Session, ctx: ServerContext): Promise<number> {
  let a: CpArgs
  try {
    a = parseCp(s.args.slice(1))
  } catch (err) {
    s.stdin.resume()
    throw err
  }
  if (a.src !== '-') s.stdin.resume() // Only a push from '-' reads stdin frames; drop the rest.
  const srcDb = findManaged(a.src, s.cwd, ctx.databases)
  const dstDb = findManaged(a.dst, s.cwd, ctx.databases)
  if (srcDb !== undefined && dstDb !== undefined) {
    throw new HotswapError('HOTSWAP_ERR_BOTH_MANAGED',
      `both ${a.src} and ${a.dst} are managed databases; one side must be a file or -`)
  }
  if (dstDb !== undefined) return await push(s, ctx, a, dstDb)
  if (srcDb !== undefined) return await pull(s, ctx, srcDb, a.src, a.dst)
  throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED',
    `neither ${a.src} nor ${a.dst} is a managed database (managed: ${managedList(ctx.databases)})`)
}

async function push (s: Session, ctx: ServerContext, a: CpArgs, db: DatabaseInfo): Promise<number> {
  const log = ctx.logger
  const started = performance.now()
  const { tempPath, bytes } = await receive(s, ctx, a.src, db)
  log.info(`received ${bytes} bytes for ${db.name} in ${(performance.now() - started).toFixed(1)} ms`)
  if (s.tty) s.stderr(`received ${formatBytes(bytes)}, validating…\n`)
  let report: PushReport
  try {
    const checked = await ctx.pool.run('validate', {
      tempPath,
      livePath: db.path,
      skipIntegrity: a.skipIntegrity,
      skipSchema: a.skipSchema,
    })
    const skipped = [a.skipIntegrity ? 'integrity' : '', a.skipSchema ? 'schema' : ''].filter(Boolean)
    log.info(`checks passed for ${db.name}${skipped.length > 0 ? ` (skipped: ${skipped.join(', ')})` : ''}`, { timings: checked.timings, startedAt: checked.startedAt, endedAt: checked.endedAt })
    if (s.tty) s.stderr('checks passed, swapping…\n')
    if (s.gem) s.stderr(GEM_SWAPPING)
    // The new file takes the live file's owner, group and mode, so a swap does not change who
    // may read it (before the pause: a refusal here costs the app nothing).
    await keepOwnership(tempPath, db.path)
    report = await ctx.coordinator.push({ db, tempPath, force: a.force, isCancelled: s.isClosed })
    // The size says which upload this was when several pushes queue for the lock.
    log.info(`swap of ${db.name} complete in ${(performance.now() - started).toFixed(1)} ms`, { bytes })
    if (s.tty) s.stderr(`swapped ${db.name}: pause ${report.pauseMs.toFixed(1)} ms across ${report.workers} worker(s)\n`)
  } catch (err) {
    removeWithSideFiles(tempPath)
    throw err
  }
  const failed = report.failedWorkers
  if (failed.length > 0) {
    // The swap happened: not a plain OK, and not a failure to retry blindly either.
    throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
      `the new database IS live in ${db.path}, but ${failed.length} of ${report.workers} worker(s) failed to resume on it ` +
      `and are being replaced one at a time (${failed.map((f) => `worker ${f.id}, pid ${f.pid}`).join('; ')})`,
      failed.map((f) => `worker ${f.id} (pid ${f.pid}): ${f.error}`))
  }
  await s.stdout('OK\n')
  return ExitCodes.ok
}

/**
 * Gives the temp file the live file's owner, group and permission bits. The owner and group
 * are set first (chown clears set-id bits, and they are not kept anyway). Root may set any;
 * another user only a group it belongs to (chown(2)). Where the server may not set them the
 * push is refused: a swap that quietly made root:daemon 0640 into root:root 0640 locked the
 * group's readers out. The stat and chown are by path: neither opens the live file.
 */
async function keepOwnership (tempPath: string, livePath: string): Promise<void> {
  const live = await fsp.stat(livePath)
  const temp = await fsp.stat(tempPath)
  if (temp.uid !== live.uid || temp.gid !== live.gid) {
    try {
      await fsp.chown(tempPath, live.uid, live.gid)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EPERM' && code !== 'EINVAL') throw err
      const me = `uid ${process.getuid?.() ?? '?'}`
      throw new HotswapError('HOTSWAP_ERR_DESTINATION',
        `${livePath} is owned by ${live.uid}:${live.gid}, which this server (${me}) cannot give the new file: ` +
        'the swap would change who may read the database; run serve as root or as the file\'s owner, ' +
        `or chown the live file to the server's user first (${code})`)
    }
  }
  await fsp.chmod(tempPath, live.mode & 0o777)
}

async function pull (s: Session, ctx: ServerContext, db: DatabaseInfo, src: string, dst: string): Promise<number> {
  const log = ctx.logger
  // Decided before anything is written (src/primary/sqlite/cp-paths.ts): a device or a FIFO is written
  // through, a regular file replaced by a temp file renamed over it, the rest refused.
  const target = dst === '-' ? null : pullDestination(dst, s.cwd, src, ctx.databases, true)
  // The snapshot goes beside a regular destination (to be renamed in); one that is streamed
  // (stdout, a FIFO, a device) waits in the spool: never beside the live database.
  const tempPath = target !== null && !target.through ? tempPathFor(target.path) : spoolPathFor(ctx.spoolDir)
  checkRoomForSnapshot(db, dirname(tempPath), ctx.databases)
  try {
    const started = performance.now()
    const { value: snap } = await ctx.coordinator.withLock(`pull of ${db.name}`, async () =>
      await ctx.pool.run('snapshot', { livePath: db.path, destPath: tempPath }))
    log.info(`snapshot of ${db.name}: ${snap.bytes} bytes in ${snap.ms.toFixed(1)} ms`)
    if (s.tty) s.stderr(`snapshot of ${db.name}: ${formatBytes(snap.bytes)}\n`)
    if (target === null) {
      for await (const chunk of createReadStream(tempPath, { highWaterMark: 1024 * 1024 })) {
        if (s.isClosed()) throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected during the pull')
        await s.stdout(chunk as Buffer)
      }
    } else if (target.through) {
      await writeThrough(s, tempPath, target.path, snap.bytes)
      await s.stdout('OK\n')
    } else {
      const fh = await fsp.open(tempPath, 'r+')
      try { await fh.sync() } finally { await fh.close() }
      await fsp.rename(tempPath, target.path)
      // The gem says OK on stderr after a pull into a file; our client reads it on stdout.
      if (s.gem) s.stderr('OK\n')
      else await s.stdout('OK\n')
    }
    log.info(`pull of ${db.name} complete: ${snap.bytes} bytes in ${(performance.now() - started).toFixed(1)} ms`)
    return ExitCodes.ok
  } finally {
    removeWithSideFiles(tempPath)
  }
}

/**
 * Copies the snapshot into a FIFO or a device, opened without O_CREAT (nothing is created or
 * replaced) and non-blocking, so that a FIFO nobody reads holds no thread of the pool: the
 * open waits a moment for a reader, a full pipe is retried.
 */
async function writeThrough (s: Session, from: string, to: string, total: number): Promise<void> {
  let fh: fsp.FileHandle | undefined
  for (const deadline = Date.now() + 10_000; fh === undefined;) {
    try {
      fh = await fsp.open(to, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENXIO' && Date.now() < deadline && !s.isClosed()) { await sleep(20); continue }
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', code === 'ENXIO'
        ? `cannot write ${to}: no process has the FIFO open for reading`
        : `cannot write ${to}: ${(err as Error).message}`)
    }
  }
  let written = 0
  try {
    const st = await fh.stat()
    if (st.isFile() || st.isDirectory()) {
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', `${to} was replaced by a ${st.isFile() ? 'file' : 'directory'} during the pull; nothing was written`)
    }
    for await (const chunk of createReadStream(from, { highWaterMark: 1024 * 1024 })) {
      const buf = chunk as Buffer
      for (let off = 0; off < buf.length;) {
        if (s.isClosed()) throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected during the pull')
        let n: number
        try {
          n = (await fh.write(buf, off)).bytesWritten
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'EAGAIN') { await sleep(5); continue } // a full pipe: its reader is behind
          if (code === 'ENOSPC') throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left on ${to}: wrote ${written} of ${total} bytes`)
          if (code === 'EPIPE') throw new HotswapError('HOTSWAP_ERR_DESTINATION', `the reader of ${to} went away: wrote ${written} of ${total} bytes`)
          throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${to}: ${(err as Error).message} (wrote ${written} of ${total} bytes)`)
        }
        if (n === 0) throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${to}: it took 0 bytes (wrote ${written} of ${total} bytes)`)
        off += n
        written += n
      }
    }
  } finally {
    await fh.close()
  }
}
