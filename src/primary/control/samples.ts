// What `status` and `monit` both read from the live server: each worker with its stats (asked
// over IPC, in parallel; null when it is not live or did not answer) and each database's
// size, journal mode, swap history and live generation. One place, so the two never disagree.

import { promises as fsp } from 'node:fs'
import type { DatabaseInfo, StatsValue } from '../../shared/messages.js'
import { isLive, type ManagedWorker } from '../managed-worker.js'
import type { DatabaseHistory } from '../swap/coordinator.js'
import type { ServerContext } from './session.js'

export interface WorkerSample {
  w: ManagedWorker
  stats: StatsValue | null
  restarts: number
}

export async function sampleWorkers (ctx: ServerContext): Promise<WorkerSample[]> {
  return await Promise.all(ctx.supervisor.all().map(async (w) => ({
    w, stats: isLive(w) ? await ctx.supervisor.stats(w) : null, restarts: ctx.supervisor.restartsOf(w.id),
  })))
}

export interface DatabaseSample {
  /** null: the file cannot be stat'ed. */
  size: number | null
  journalMode: string
  history: DatabaseHistory | undefined
  generation: number
}

export async function sampleDatabase (ctx: ServerContext, d: DatabaseInfo): Promise<DatabaseSample> {
  let size: number | null = null
  try { size = (await fsp.stat(d.path)).size } catch { size = null }
  return {
    size,
    journalMode: ctx.journalModes.get(d.name) ?? 'unknown',
    history: ctx.coordinator.history.get(d.name),
    generation: ctx.coordinator.stores.get(d.name)?.manifest.live ?? 0,
  }
}
