// What a commit checks once it holds the swap lock, before it writes its intent or pauses anyone
// (a refusal here costs the app nothing):
//
//   each item still valid? (its stage not committed or aborted meanwhile, not stale; an undo's
//   live generation unchanged) ─▶ owner and mode of the live file given to the new one
//   ─▶ outside processes with a live file open? (a /proc fd scan) refused, unless --force
//   (a held commit with --ready scans again once told to start: coordinator.ts's #started)

import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import type { StageRecord, Stages } from '../generations/stages.js'
import type { GenerationStore } from '../generations/store.js'
import type { TaskPool } from '../sqlite/pool.js'
import type { Supervisor } from '../supervisor.js'
import { keepOwnership } from './ownership.js'

export interface PreflightContext {
  supervisor: Supervisor
  pool: TaskPool
  logger: Logger
  stores: Map<string, GenerationStore>
  stages: Stages
}

/** What preflight reads of a commit's items (coordinator.ts's CommitItem). */
export interface PreflightItem {
  db: DatabaseInfo
  newPath: string
  stage?: StageRecord
  undoOf?: number
  undoFrom?: number
}

/** Resolves with how long the outside-holder scan took (a held commit scans again at its start). */
export async function preflight (ctx: PreflightContext, req: { items: PreflightItem[], force: boolean }): Promise<{ scanMs: number }> {
  for (const item of req.items) {
    const store = ctx.stores.get(item.db.name)
    if (store === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `no generation store for ${item.db.name}`)
    const live = store.live.id
    if (item.stage !== undefined && !ctx.stages.has(item.stage)) {
      throw new HotswapError('HOTSWAP_ERR_UNKNOWN_STAGE', `stage ${item.stage.id} of ${item.db.name} was committed or aborted while this commit waited for the swap lock`)
    }
    // An undo chose its generation against the live one before it had the lock: a swap that
    // ran meanwhile made another one live (and may have removed the one chosen).
    if (item.undoOf !== undefined && item.undoFrom !== live) {
      throw new HotswapError('HOTSWAP_ERR_UNKNOWN_GENERATION',
        `another swap of ${item.db.name} ran while this undo waited for the swap lock (generation ${live} is live now, not ${item.undoFrom ?? '?'}); nothing was changed: see hotswap history, and undo again`)
    }
    if (item.stage !== undefined && item.stage.checkedAgainst !== live) {
      throw new HotswapError('HOTSWAP_ERR_STAGE_STALE',
        `stage ${item.stage.id} of ${item.db.name} was checked against generation ${item.stage.checkedAgainst}, but generation ${live} is live now; abort it and stage again`)
    }
    // The new file takes the live file's owner, group and mode, so a swap does not change who
    // may read it.
    await keepOwnership(item.newPath, item.db.path)
  }
  const t = performance.now()
  await refuseOutsideHolders(ctx, req.items.map((i) => i.db), req.force)
  return { scanMs: performance.now() - t }
}

export async function refuseOutsideHolders (ctx: PreflightContext, dbs: DatabaseInfo[], force: boolean): Promise<void> {
  const { supervisor, pool, logger: log } = ctx
  // Only a /proc fd scan sees a process that opened the file but has not queried it yet.
  // The live workers are left out (their managed connections are open until the pause); each
  // scans itself once those are closed and reports the rest (pauseAll). A worker on its way
  // out (stopping after a listen timeout, draining) is not paused, so it is scanned here.
  const holders = await pool.run('findHolders', {
    paths: dbs.map((d) => d.path),
    excludePids: supervisor.live().map((w) => w.pid),
  }, 'swap')
  if (holders.length === 0) return
  const workers = new Map(supervisor.all().map((w) => [w.pid, w]))
  const named = holders.map((h) => {
    const w = workers.get(h.pid)
    return w === undefined ? `pid ${h.pid} (${h.command})` : `worker ${w.id} (pid ${h.pid}, ${w.state}: not paused by swaps)`
  })
  const paths = dbs.map((d) => d.path).join(', ')
  if (!force) {
    throw new HotswapError('HOTSWAP_ERR_DB_BUSY',
      `another process has ${paths} open: ${[...new Set(named)].join(', ')}; stop it, or push with --force`)
  }
  log.warn(`--force: swapping although ${[...new Set(named)].join(', ')} has the database open`)
}
