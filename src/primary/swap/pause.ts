// Pausing and resuming a set of workers for a set of databases: the part of a swap that talks to
// the workers. Whatever runs inside the pause (one install, the installs of a commit of several
// databases, or a fleet's wait for its other hosts later) sits between the two calls.
//
//   pauseAll: PAUSE every worker (drain, close, ack with what it still has open)
//        ─▶ a worker died or is on its way out? wait for its exit, it holds nothing
//        ─▶ a worker's own connections still open? refuse (or warn under --force)
//   resumeAll: RESUME every worker still alive (reopen, release queue, ack)
//        ─▶ one whose resume failed is replaced (rolling, graceful) and reported

import { HotswapError, toHotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo, PauseValue, ResumeValue } from '../../shared/messages.js'
import type { ManagedWorker } from '../managed-worker.js'
import type { Supervisor } from '../supervisor.js'

export interface PauseContext {
  supervisor: Supervisor
  logger: Logger
  drainTimeoutMs: number
  /** A worker's drain still waiting after this long logs the requests it waits for. */
  drainWarningMs?: number
}

export interface FailedWorker { id: number, pid: number, error: string }

export interface Resumed {
  values: ResumeValue[]
  /** Workers whose resume failed: each is being replaced, one at a time. */
  failed: FailedWorker[]
}

/**
 * Pauses every worker of `targets` on `db` and returns their acks. Throws (a worker failed or
 * timed out, or one has its own connection open and `force` is not set) with every ack already
 * in: the caller resumes everyone, on the old file.
 */
export async function pauseAll (ctx: PauseContext, targets: ManagedWorker[], dbs: DatabaseInfo[], force: boolean): Promise<PauseValue[]> {
  const { drainTimeoutMs, drainWarningMs } = ctx
  const names = dbs.map((d) => d.name)
  const results = await Promise.allSettled(targets.map(async (w) =>
    await w.rpc.request({ cmd: 'hotswap:pause', names, drainTimeoutMs, ...(drainWarningMs === undefined ? {} : { drainWarningMs }) }, drainTimeoutMs + 5000)))
  const values: PauseValue[] = []
  const held: Array<{ w: ManagedWorker, paths: string[] }> = []
  for (const [i, r] of results.entries()) {
    const w = targets[i] as ManagedWorker
    if (r.status === 'fulfilled') {
      values.push(r.value)
      if (r.value.holders.length > 0) held.push({ w, paths: r.value.holders })
      continue
    }
    // A worker that died needs no ack: it holds no connection any more, and its replacement
    // waits in its handshake until the swap is over. One whose IPC channel is already gone
    // is on its way out (it closes its databases on disconnect): wait for its exit.
    if (w.state === 'dead') continue
    if (!w.worker.isConnected() && await exitsWithin(w, 3000)) continue
    const e = toHotswapError(r.reason)
    throw new HotswapError(e.code, `worker ${w.id} (pid ${w.pid}): ${e.message}`, e.details)
  }
  if (held.length > 0) ownConnections(ctx.logger, held, dbs, force)
  return values
}

/**
 * Connections a worker opened itself (`new Database(path)`) are invisible to the swap: they
 * would keep reading the unlinked old file and their writes would vanish. Each worker reports
 * what it still has open once its managed connections are closed; any is refused as an
 * outside process is, unless --force.
 */
function ownConnections (log: Logger, held: Array<{ w: ManagedWorker, paths: string[] }>, dbs: DatabaseInfo[], force: boolean): void {
  const db = { path: [...new Set(held.flatMap(({ paths }) => paths.map((p) => dbs.find((d) => p.startsWith(d.path))?.path ?? p)))].join(', ') }
  const named = held.map(({ w }) => `worker ${w.id} (pid ${w.pid})`).join(', ')
  const details = held.flatMap(({ w, paths }) => paths.map((p) => `worker ${w.id} (pid ${w.pid}) has ${p} open`))
  if (!force) {
    throw new HotswapError('HOTSWAP_ERR_DB_BUSY',
      `${named} ${held.length === 1 ? 'has' : 'have'} ${db.path} open through a connection of its own (not database()); open it with database(), or push with --force`, details)
  }
  log.warn(`--force: swapping although ${named} ${held.length === 1 ? 'has' : 'have'} ${db.path} open through a connection of its own; ` +
    'that connection keeps the old file and what it writes is lost', { holders: details })
}

/**
 * Resumes every worker still alive. One whose resume fails is replaced (a rolling, graceful
 * replacement, never a kill: every worker of an app whose onResume throws fails at once, and
 * killing them all took the service down). After an aborted swap, `aborted` is the error the
 * client gets; the failures are added to its details.
 */
export async function resumeAll (ctx: PauseContext, targets: ManagedWorker[], dbs: DatabaseInfo[], aborted?: unknown): Promise<Resumed> {
  const { supervisor } = ctx
  const names = dbs.map((d) => d.name)
  const alive = targets.filter((w) => w.state !== 'dead')
  const results = await Promise.allSettled(alive.map(async (w) =>
    await w.rpc.request({ cmd: 'hotswap:resume', names }, 10_000)))
  const values: ResumeValue[] = []
  const failed: FailedWorker[] = []
  for (const [i, r] of results.entries()) {
    const w = alive[i] as ManagedWorker
    if (r.status === 'fulfilled') {
      values.push(r.value)
      continue
    }
    if (w.state === 'dead') continue // It holds nothing any more; its slot restarts as after a crash.
    const error = toHotswapError(r.reason).message
    failed.push({ id: w.id, pid: w.pid, error })
    supervisor.replace(w, `its resume on ${aborted === undefined ? 'the new' : 'the old'} file of ${names.join(', ')} failed: ${error}`)
  }
  if (aborted !== undefined && failed.length > 0 && aborted instanceof HotswapError) {
    for (const f of failed) aborted.details.push(`worker ${f.id} (pid ${f.pid}) failed to resume on the old file (${f.error}); it is being replaced`)
  }
  return { values, failed }
}

async function exitsWithin (w: ManagedWorker, ms: number): Promise<boolean> {
  if (w.state === 'dead') return true
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    w.worker.once('exit', () => { clearTimeout(timer); resolve(true) })
  })
}
