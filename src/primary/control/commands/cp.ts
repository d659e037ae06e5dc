// `cp SRC DST` on the socket: exactly one side is a managed database.
//
//   push  receive (upload.ts) ─▶ validate, digest (threads)
//         ─▶ coordinator.commit (owner and mode, pause, install, resume) ─▶ "OK"
//         --stage: the validated file kept as a stage (generations/stages.ts) ─▶ its id
//   pull  snapshot under the swap lock (thread) ─▶ stdout frames, a FIFO or device written
//         through, or a temp file beside DST renamed over it ─▶ "OK"

import { constants, createReadStream, promises as fsp } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { formatBytes } from '../../../shared/format.js'
import { findManaged, managedList } from '../../../shared/managed.js'
import type { DatabaseInfo } from '../../../shared/messages.js'
import { pullDestination } from '../../sqlite/cp-paths.js'
import type { GenerationSource } from '../../generations/manifest.js'
import type { CommitReport } from '../../swap/coordinator.js'
import { keepOwnership } from '../../swap/ownership.js'
import { answerCommit } from './answer.js'
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
  stage: boolean
}

function parseCp (args: string[]): CpArgs {
  const positional: string[] = []
  const out = { skipIntegrity: false, skipSchema: false, force: false, stage: false }
  for (const a of args) {
    const flag = a.replace(/_/g, '-')
    if (flag === '--skip-integrity-check') out.skipIntegrity = true
    else if (flag === '--skip-schema-check') out.skipSchema = true
    else if (flag === '--force') out.force = true
    else if (flag === '--stage') out.stage = true
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
  if (a.stage) throw new HotswapError('HOTSWAP_ERR_USAGE', '--stage is for a push (cp SRC LIVE --stage), not a pull')
  if (srcDb !== undefined) return await pull(s, ctx, srcDb, a.src, a.dst)
  throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED',
    `neither ${a.src} nor ${a.dst} is a managed database (managed: ${managedList(ctx.databases)})`)
}

async function push (s: Session, ctx: ServerContext, a: CpArgs, db: DatabaseInfo): Promise<number> {
  const log = ctx.logger
  const started = performance.now()
  // A second stage of one database is refused before its bytes are received.
  if (a.stage) ctx.coordinator.stages.checkFree(db.name)
  const { tempPath, bytes } = await receive(s, ctx, a.src, db)
  log.info(`received ${bytes} bytes for ${db.name} in ${(performance.now() - started).toFixed(1)} ms`, { event: 'received', db: db.name, bytes, receiveMs: Math.round(performance.now() - started) })
  ctx.uploads?.received(db.name, (performance.now() - started) / 1000)
  if (s.tty) s.stderr(`received ${formatBytes(bytes)}, validating…\n`)
  let report: CommitReport
  try {
    // A stage also keeps the digest of the bytes as they came, before the checks set the
    // journal mode: what a fleet coordinator compares with the SHA-256 of the file it sent.
    const received = a.stage ? (await ctx.pool.run('digest', { path: tempPath })).digest : undefined
    const validating = performance.now()
    const checked = await ctx.pool.run('validate', {
      tempPath,
      livePath: db.path,
      skipIntegrity: a.skipIntegrity,
      skipSchema: a.skipSchema,
    }).finally(() => ctx.uploads?.validated(db.name, (performance.now() - validating) / 1000))
    const skipped = [a.skipIntegrity ? 'integrity' : '', a.skipSchema ? 'schema' : ''].filter(Boolean)
    log.info(`checks passed for ${db.name}${skipped.length > 0 ? ` (skipped: ${skipped.join(', ')})` : ''}`, { event: 'checked', db: db.name, timings: checked.timings, startedAt: checked.startedAt, endedAt: checked.endedAt })
    // Of the file exactly as it goes live (its journal mode set), before the lock and the pause.
    const { digest, ms: digestMs } = await ctx.pool.run('digest', { path: tempPath })
    log.info(`digest of the upload for ${db.name}: ${digest} in ${digestMs.toFixed(1)} ms`)
    const source: GenerationSource = a.src === '-' ? { kind: 'stdin' } : { kind: 'file', path: resolve(s.cwd, a.src) }
    if (a.stage) {
      // A client gone meanwhile would never learn the id: nothing is staged for nobody.
      if (s.isClosed()) throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before its file was staged; nothing was kept')
      await keepOwnership(tempPath, db.path)
      const rec = await ctx.coordinator.stages.add(db.name, tempPath, { source, bytes, digest, received })
      log.info(`staged ${db.name} as ${rec.id}: ${bytes} bytes, ${digest}, checked against generation ${rec.checkedAgainst}`, { event: 'stage', stage: rec.id, db: db.name, digest })
      if (s.tty) s.stderr(`checks passed, staged ${db.name} as ${rec.id} (hotswap commit ${rec.id})\n`)
      await s.stdout(`${rec.id}\n`)
      return ExitCodes.ok
    }
    if (s.tty) s.stderr('checks passed, swapping…\n')
    if (s.gem) s.stderr(GEM_SWAPPING)
    report = await ctx.coordinator.commit({
      kind: 'push', items: [{ db, newPath: tempPath, source, bytes, digest }], force: a.force, isCancelled: s.isClosed,
    })
    // The size says which upload this was when several pushes queue for the lock.
    log.info(`swap of ${db.name} complete in ${(performance.now() - started).toFixed(1)} ms`, { event: 'swap-complete', db: db.name, bytes, pauseMs: Math.round(report.pauseMs * 100) / 100, totalMs: Math.round(performance.now() - started) })
    if (s.tty) s.stderr(`swapped ${db.name}: pause ${report.pauseMs.toFixed(1)} ms across ${report.workers} worker(s)\n`)
  } catch (err) {
    removeWithSideFiles(tempPath)
    throw err
  }
  return await answerCommit(s, report)
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
