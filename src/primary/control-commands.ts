// What the control socket can do: the server side of `cp`, `status` and `version`.
// Each command gets a Session (the client's args, stdin frames, stdout/stderr writers) and
// returns an exit code; a thrown HotswapError becomes one "ERROR [CODE] message" line (the
// gem's "ERROR: message" for the gem's client).

import { constants, existsSync, createReadStream, promises as fsp } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Readable } from 'node:stream'
import { HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { DatabaseInfo } from '../shared/messages.js'
import type { FileIdentity } from '../shared/frames.js'
import { formatBytes } from '../shared/format.js'
import { findManaged, managedList } from '../shared/managed.js'
import { filesIdentity } from '../shared/same-files.js'
import { VERSION } from '../shared/version.js'
import { writeAll } from '../shared/write-all.js'
import { pullDestination, refuseManagedSource } from './sqlite/cp-paths.js'
import type { TaskPool } from './sqlite/pool.js'
import type { PushReport, SwapCoordinator } from './swap/coordinator.js'
import { isLive, type Supervisor } from './supervisor.js'
import { checkRoomForSnapshot, checkRoomForUpload, spoolPathFor } from './spool.js'
import { GEM_SWAPPING } from './gem-words.js'
import { removeWithSideFiles } from './sqlite/side-files.js'
import { copyPrivately, createExclusive, tempPathFor } from './sqlite/temp-files.js'

export interface Session {
  args: string[]
  /** Where relative paths resolve: our client's cwd, else the server's (as the gem expects). */
  cwd: string
  tty: boolean
  /** The client announced no protocol of ours: it reads the gem's words (gem-words.ts). */
  gem: boolean
  /** The file our client means by a path source (device, inode), to be checked before a copy. */
  source?: FileIdentity | undefined
  stdin: Readable
  stdout: (data: Buffer | string) => Promise<void>
  stderr: (text: string) => void
  /** The client is gone: disconnected, or (our client) ended its side before the reply. */
  isClosed: () => boolean
  /** Stops the idle timer once an upload is complete (validation may take a while). */
  uploadDone: () => void
}

export interface ServerContext {
  databases: DatabaseInfo[]
  coordinator: SwapCoordinator
  pool: TaskPool
  supervisor: Supervisor
  logger: Logger
  socketPath: string
  startedAt: number
  maxBytes: number
  /** This server's private directory for snapshots being streamed (src/primary/spool.ts). */
  spoolDir: string
  /** Journal mode per database name, read at start-up (a swap keeps it). */
  journalModes: Map<string, string>
  /** Rolling restart onto new app code (takes the swap lock). */
  reload: (parallel: number) => Promise<{ replaced: number, ms: number }>
}

export type Command = (s: Session, ctx: ServerContext) => Promise<number>

/** The socket's commands. A name from the socket is looked up by own keys only (a Map): indexing
 * a plain object with it found `constructor`, `toString`, `__proto__` on Object.prototype. */
export const commands: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['cp', cp],
  ['help', help],
  ['reload', reload],
  ['status', status],
  ['version', async (s) => {
    s.stdin.resume()
    await s.stdout(`hotswap ${VERSION}\n`)
    return 0
  }],
])

/** What `help` lists, as Thor lists the gem's commands (its client sends no arguments for help). */
const USAGE: ReadonlyArray<readonly [name: string, usage: string, what: string]> = [
  ['cp', 'cp SRC DST', 'Copy a database to/from the running server'],
  ['help', 'help [COMMAND]', 'Describe available commands or one specific command'],
  ['reload', 'reload [--parallel N]', 'Restart the workers one at a time onto the app\'s current code'],
  ['status', 'status [--json]', 'Show the workers and the managed databases'],
  ['version', 'version', 'Print the hotswap version'],
]

async function help (s: Session): Promise<number> {
  s.stdin.resume()
  const asked = s.args[1]
  if (asked !== undefined) {
    const one = USAGE.find(([name]) => name === asked)
    if (one === undefined) {
      const shown = JSON.stringify(asked.length > 64 ? `${asked.slice(0, 64)}…` : asked)
      throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown command ${shown} (commands: ${USAGE.map(([n]) => n).join(', ')})`)
    }
    await s.stdout(`Usage:\n  hotswap ${one[1]}\n\n${one[2]}\n`)
    return 0
  }
  const width = Math.max(...USAGE.map(([, usage]) => usage.length))
  await s.stdout(['Commands:', ...USAGE.map(([, usage, what]) => `  hotswap ${usage.padEnd(width)}  # ${what}`), ''].join('\n') + '\n')
  return 0
}

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

async function cp (s: Session, ctx: ServerContext): Promise<number> {
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

const WRITE_BATCH_BYTES = 4 * 1024 * 1024
/** Tiny frames (a client may send a byte per frame) must not pile up millions of slices. */
const WRITE_BATCH_SLICES = 256

function tooLarge (ctx: ServerContext): HotswapError {
  return new HotswapError('HOTSWAP_ERR_TOO_LARGE', `the upload exceeds the limit of ${ctx.maxBytes} bytes (--max-bytes)`)
}

async function receive (s: Session, ctx: ServerContext, src: string, db: DatabaseInfo): Promise<{ tempPath: string, bytes: number }> {
  const tempPath = tempPathFor(db.path)
  // What reached the disk, of what came in: a full disk is reported with both.
  let written = 0
  let bytes = 0
  try {
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
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${src}: ${e.message}`)
    }
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
      throw new HotswapError('HOTSWAP_ERR_NO_SPACE', written > 0 || src === '-'
        ? `no space left beside ${db.path} to receive the upload: wrote ${written} of ${bytes} bytes received`
        : `no space left beside ${db.path} to receive the upload of ${bytes} bytes`)
    }
    throw err
  } finally {
    s.uploadDone()
  }
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
  return 0
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
  // Decided before anything is written (src/primary/cp-paths.ts): a device or a FIFO is written
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
    return 0
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

async function reload (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  let parallel = 1
  const rest = s.args.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    const m = /^--parallel(?:=(.*))?$/.exec(a)
    if (m === null) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${a} for reload`)
    const v = m[1] ?? rest[++i]
    parallel = Number(v)
    if (!Number.isInteger(parallel) || parallel < 1) throw new HotswapError('HOTSWAP_ERR_USAGE', `--parallel takes a positive integer (got ${String(v)})`)
  }
  const r = await ctx.reload(parallel)
  await s.stdout(`reloaded ${r.replaced} worker(s) in ${Math.round(r.ms)} ms\n`)
  return 0
}

async function status (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  for (const a of s.args.slice(1)) {
    if (a !== '--json') throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${JSON.stringify(a.slice(0, 64))} for status (status takes --json)`)
  }
  const json = s.args.includes('--json')
  const workers = await Promise.all(ctx.supervisor.all().map(async (w) => {
    const stats = isLive(w) ? await ctx.supervisor.stats(w) : null
    return {
      id: w.id,
      pid: w.pid,
      state: w.state,
      app: w.app,
      uptimeMs: Date.now() - w.startedAt,
      restarts: ctx.supervisor.restartsOf(w.id),
      rss: stats?.rss ?? null,
      inFlight: stats?.inFlight ?? null,
      served: stats?.served ?? null,
    }
  }))
  const databases = await Promise.all(ctx.databases.map(async (d) => {
    const h = ctx.coordinator.history.get(d.name)
    let size: number | null = null
    try { size = (await fsp.stat(d.path)).size } catch { size = null }
    return { name: d.name, path: d.path, size, journalMode: ctx.journalModes.get(d.name) ?? 'unknown', swaps: h?.swaps ?? 0, lastSwapAt: h?.lastSwapAt ?? null, lastPauseMs: h?.lastPauseMs ?? null }
  }))
  const report = {
    primary: {
      pid: process.pid,
      uptimeMs: Date.now() - ctx.startedAt,
      socket: ctx.socketPath,
      version: VERSION,
      rss: process.memoryUsage.rss(),
      // As given (through a release symlink, say) and the file it named at the last fork.
      app: ctx.supervisor.app,
      // Whether a client's paths name the same files here: `cp FILE LIVE` then sends the path
      // instead of the bytes.
      ...filesIdentity(),
    },
    workers,
    databases,
  }
  if (json) {
    await s.stdout(JSON.stringify(report) + '\n')
    return 0
  }
  const lines = [
    `hotswap ${VERSION}  primary pid ${process.pid}  up ${Math.round(report.primary.uptimeMs / 1000)} s  socket ${ctx.socketPath}`,
    `app ${report.primary.app.path}${report.primary.app.resolved === report.primary.app.path ? '' : `  (at the last fork: ${report.primary.app.resolved ?? 'missing'})`}`,
    'workers:',
    ...workers.map((w) => `  ${w.id}  pid ${w.pid}  ${w.state}  up ${Math.round(w.uptimeMs / 1000)} s  restarts ${w.restarts}  rss ${w.rss === null ? '-' : formatBytes(w.rss)}  in flight ${w.inFlight ?? '-'}  served ${w.served ?? '-'}`),
    'databases:',
    ...databases.map((d) => `  ${d.name}  ${d.path}  ${d.size === null ? '?' : formatBytes(d.size)}  ${d.journalMode}  swaps ${d.swaps}${d.lastPauseMs === null ? '' : `  last pause ${d.lastPauseMs} ms`}`),
  ]
  await s.stdout(lines.join('\n') + '\n')
  return 0
}

