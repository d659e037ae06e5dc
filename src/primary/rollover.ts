// Taking a worker's place, new one first: a rolling reload onto new code, and the replacement of
// one worker that cannot go on as it is (its resume failed, it is over --max-memory, the
// watchdog found it stuck or failing its health check). Either way a replacement starts in the
// slot and must be ready before the old worker stops routing, drains and exits, so capacity
// never drops; a replacement that never becomes ready is stopped and the old worker keeps
// serving. The Supervisor is the WorkerHost (this file does not import it).
//
//   reload: given-up slots start again ─▶ per slot: fork(slot) ─▶ ready ─▶ stop(old, drained)
//   replace(w): queued, one at a time ─▶ fork(w.id) ─▶ ready ─▶ outside a swap ─▶ stop(w)
//                                                                         stuck: SIGKILL w

import { HotswapError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { ManagedWorker } from './managed-worker.js'
import type { Slots } from './slots.js'

/** What the rollover (and scale.ts, watchdog.ts) need of the supervisor. */
export interface WorkerHost {
  readonly log: Logger
  readonly slots: Slots
  readonly killTimeoutMs: number
  /** A shutdown has begun: nothing new starts. */
  readonly stopping: boolean
  live: () => ManagedWorker[]
  all: () => ManagedWorker[]
  /** Starts a worker in `slot`. */
  fork: (slot: number) => ManagedWorker
  /** Stops one worker outside any swap's pause: drained, SIGKILL after `timeoutMs`. */
  stopWorker: (w: ManagedWorker, timeoutMs: number, planned?: boolean) => Promise<void>
  /** Resolves once no swap holds the workers paused. */
  outsideSwap: () => Promise<void>
}

/** Read afresh (after an await, where TypeScript keeps an earlier narrowing of state). */
export function leaving (w: ManagedWorker): boolean {
  return w.state === 'dead' || w.state === 'stopping'
}

export interface ReplaceOptions {
  /** Its event loop does not answer: it cannot hear "drain and exit", so it is killed. */
  stuck?: boolean
}

export class Rollover {
  readonly #host: WorkerHost
  readonly #replacing = new Set<ManagedWorker>()
  #replacements: Promise<void> = Promise.resolve()

  constructor (host: WorkerHost) {
    this.#host = host
  }

  /** A replacement of `w` is queued or under way. */
  isReplacing (w: ManagedWorker): boolean {
    return this.#replacing.has(w)
  }

  /**
   * Replaces `w` the way a reload does. Replacements run one at a time, and a worker is never
   * stopped before its replacement serves, so capacity never drops to zero even when every
   * worker failed at once. Returns at once.
   */
  replace (w: ManagedWorker, reason: string, opts: ReplaceOptions = {}): void {
    if (this.#replacing.has(w) || leaving(w)) return
    this.#replacing.add(w)
    this.#host.log.error(`worker ${w.id} (pid ${w.pid}) will be replaced: ${reason}`)
    this.#replacements = this.#replacements.then(async () => await this.#replaceOne(w, opts))
  }

  async #replaceOne (w: ManagedWorker, opts: ReplaceOptions): Promise<void> {
    const host = this.#host
    try {
      if (host.stopping || leaving(w) || !host.slots.has(w.id)) return
      const fresh = host.fork(w.id)
      try {
        await fresh.ready
      } catch (err) {
        fresh.planned = true // As in reload(): it may have served already; no SIGKILL, no restart.
        if (host.stopping) return
        host.log.error(`the replacement of worker ${w.id} did not become ready (${(err as Error).message}); worker ${w.id} (pid ${w.pid}) keeps serving`)
        return
      }
      // Outside the lock: a swap may be pausing every worker now. Stop the old one after it.
      await host.outsideSwap()
      if (host.stopping || leaving(w)) return
      if (leaving(fresh)) {
        host.log.error(`the replacement of worker ${w.id} (pid ${fresh.pid}) stopped before it took over; worker ${w.id} (pid ${w.pid}) keeps serving`)
        return
      }
      if (opts.stuck === true && await w.ping(1000) === null) {
        // A drain would wait out --kill-timeout for a worker that cannot hear it.
        w.planned = true
        host.log.warn(`worker ${w.id} (pid ${w.pid}) is still stuck: killing it`)
        w.worker.process.kill('SIGKILL')
        await w.exited
      } else {
        await host.stopWorker(w, host.killTimeoutMs)
      }
      host.log.info(`worker ${w.id} replaced: pid ${w.pid} stopped, pid ${fresh.pid} serves`)
    } catch (err) {
      host.log.error(`replacing worker ${w.id} (pid ${w.pid}): ${(err as Error).message}`)
    } finally {
      this.#replacing.delete(w)
    }
  }

  /**
   * Rolling restart onto the app's current code. Given-up slots start first (nothing serves
   * there, so nothing to wait for); then per slot a replacement starts, must become ready, and
   * the old worker drains and stops. A replacement that never becomes ready is stopped, the old
   * worker keeps serving, and the rollout stops there.
   */
  async reload (parallel: number): Promise<{ replaced: number, revived: number }> {
    const host = this.#host
    const old = host.live() // Before the revived slots' workers, which run the current code already.
    const revived = await this.#revive()
    let replaced = 0
    for (let i = 0; i < old.length; i += parallel) {
      const batch = old.slice(i, i + parallel)
      const results = await Promise.allSettled(batch.map(async (w) => {
        if (w.state === 'dead' || this.#replacing.has(w)) return // Its replacement is on the way.
        const fresh = host.fork(w.id)
        try {
          await fresh.ready
        } catch (err) {
          // It exited, or it is being stopped gracefully (the listen timeout): it may have
          // served requests already, and SIGKILL would fail the ones in flight.
          fresh.planned = true
          throw err
        }
        await host.stopWorker(w, host.killTimeoutMs)
        replaced++
      }))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) {
        const e = failed.reason as Error
        throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
          `reload stopped after ${replaced} of ${old.length} worker(s): a replacement did not become ready (${e.message}); the old workers keep serving`)
      }
    }
    return { replaced, revived }
  }

  /** The given-up slots, started again with a fresh crash-loop count; each must become ready. */
  async #revive (): Promise<number> {
    const host = this.#host
    const slots = host.slots.givenUp().map((g) => g.slot)
    const results = await Promise.allSettled(slots.map(async (slot) => {
      host.slots.revive(slot)
      host.log.info(`reload: worker slot ${slot} was given up; starting it again`)
      await host.fork(slot).ready
    }))
    const failed = results.flatMap((r, i) => r.status === 'rejected' ? [`slot ${String(slots[i])}: ${(r.reason as Error).message}`] : [])
    if (failed.length > 0) {
      // It is not planned: it restarts (with the backoff) until the crash-loop guard gives it up again.
      throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
        `reload stopped: ${failed.length} given-up worker slot(s) did not come back (${failed.join('; ')}); the other workers keep serving the old code`)
    }
    return slots.length
  }
}
