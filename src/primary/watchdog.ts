// The watchdog: every --health-interval, each ready worker is pinged over IPC (its event loop
// must answer within --health-timeout), asked to GET --health-check PATH from its own app
// (worker/health-check.ts; 200-399 is healthy), and its RSS (from the ping) compared with
// --max-memory. A worker over the memory limit is replaced at once; one that fails
// --health-threshold checks in a row is replaced. Either way new first (rollover.ts): the
// replacement must be ready before the old worker is drained, or killed when its event loop is
// stuck (it cannot hear "drain and exit"). pm2 cannot do this (pm2 #2197).
//
//   tick ─▶ each ready worker, not being replaced, no check of it still running:
//             ping ── no answer ────────────────────┐
//               └─ rss > --max-memory ─▶ replace     ├─▶ failures+1 ─▶ ≥ threshold ─▶ replace
//             GET PATH ── error, status ≥ 400 ──────┘   (a pass resets the count)
//   A swap's pause queues requests at the gate: the HTTP check waits for the swap to end.
//
// A limit below what the app takes to start would replace a slot's worker at every interval,
// for ever (pm2's max_memory_restart does): a worker that is over it at its first check, when
// the one it replaced was replaced for its memory, is kept, and the error says to raise the
// limit. Its slot is watched again from its next worker on (a reload, a crash). So with a
// --health-check that a slot's worker and then its replacement fail from their start: the
// replacement is kept, with one error, and replaced again once it passes and then fails.

import { formatBytes } from '../shared/format.js'
import type { Logger } from '../shared/logger.js'
import type { ManagedWorker } from './managed-worker.js'

export interface WatchdogOptions {
  /** 0: no checks at all. */
  intervalMs: number
  timeoutMs: number
  threshold: number
  /** The app's path to GET (`/healthz`); none: no HTTP check. */
  healthCheck?: string
  /** Bytes; none: no memory check. */
  maxMemory?: number
}

/** What the watchdog needs of the supervisor. */
export interface Watched {
  readonly log: Logger
  live: () => ManagedWorker[]
  isReplacing: (w: ManagedWorker) => boolean
  readonly inSwap: boolean
  replace: (w: ManagedWorker, reason: string, opts: { stuck?: boolean }) => void
}

export class Watchdog {
  readonly #opts: WatchdogOptions
  readonly #host: Watched
  readonly #failures = new WeakMap<ManagedWorker, number>()
  readonly #checking = new WeakSet<ManagedWorker>()
  /** Workers checked at least once. */
  readonly #checked = new WeakSet<ManagedWorker>()
  /** Slots whose last worker was replaced for its memory. */
  readonly #replacedForMemory = new Set<number>()
  /** Workers over the limit from their first check, after such a replacement: not replaced for memory. */
  readonly #overFromStart = new WeakSet<ManagedWorker>()
  /** Workers that passed a --health-check at least once. */
  readonly #passed = new WeakSet<ManagedWorker>()
  /** Slots whose last worker was replaced for failing every --health-check it was given. */
  readonly #replacedNeverPassing = new Set<number>()
  /** Workers that never passed one either, after such a replacement: not replaced for it. */
  readonly #neverPassing = new WeakSet<ManagedWorker>()
  #timer: NodeJS.Timeout | undefined

  constructor (host: Watched, opts: WatchdogOptions) {
    this.#host = host
    this.#opts = opts
  }

  start (): void {
    if (this.#opts.intervalMs === 0) return
    this.#timer = setInterval(() => { this.#tick() }, this.#opts.intervalMs)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  #tick (): void {
    for (const w of this.#host.live()) {
      if (w.state !== 'ready' || this.#host.isReplacing(w) || this.#checking.has(w)) continue
      this.#checking.add(w)
      void this.#check(w).finally(() => this.#checking.delete(w))
    }
  }

  async #check (w: ManagedWorker): Promise<void> {
    const { timeoutMs, threshold, maxMemory, healthCheck } = this.#opts
    const host = this.#host
    const ping = await w.ping(timeoutMs)
    if (w.state !== 'ready') return
    let failed: string | null = null
    const first = ping !== null && !this.#checked.has(w)
    if (ping !== null) this.#checked.add(w)
    if (ping === null) {
      failed = `its event loop did not answer a ping within ${timeoutMs} ms`
    } else if (maxMemory !== undefined && ping.rss > maxMemory && !this.#overFromStart.has(w)) {
      const over = `its memory (RSS ${formatBytes(ping.rss)}, ${ping.rss} bytes) is over --max-memory ${formatBytes(maxMemory)} (${maxMemory} bytes)`
      if (first && this.#replacedForMemory.has(w.id)) {
        this.#overFromStart.add(w)
        this.#replacedForMemory.delete(w.id)
        host.log.error(`worker ${w.id} (pid ${w.pid}): ${over} at its first check, as was the worker it replaced: the limit is below what the app takes to start; it is not replaced for its memory (raise --max-memory)`,
          { event: 'max-memory-below-start', worker: w.id, pid: w.pid, rss: ping.rss, maxMemory })
        return
      }
      this.#replacedForMemory.add(w.id)
      host.replace(w, over, {})
      return
    } else if (first) {
      this.#replacedForMemory.delete(w.id)
    }
    if (failed === null && healthCheck !== undefined && !host.inSwap) {
      const h = await w.healthCheck(healthCheck, timeoutMs)
      if (h.status === null || h.status < 200 || h.status >= 400) {
        // A swap that began meanwhile held the request at the gate: that says nothing of the app.
        if (host.inSwap) return
        failed = `GET ${healthCheck} ${h.status === null ? `failed: ${h.error ?? 'no answer'}` : `answered ${h.status}`}`
      }
    }
    if (w.state !== 'ready' || host.isReplacing(w)) return
    if (failed === null) {
      this.#failures.delete(w)
      if (healthCheck !== undefined && ping !== null) {
        this.#passed.add(w)
        this.#neverPassing.delete(w)
        this.#replacedNeverPassing.delete(w.id)
      }
      return
    }
    // A stuck event loop is always replaced; a --health-check that no worker has ever passed (a
    // wrong path, an app that answers it with an error from its start) is not, past one try.
    const http = ping !== null
    if (http && this.#neverPassing.has(w)) return
    const n = (this.#failures.get(w) ?? 0) + 1
    this.#failures.set(w, n)
    host.log.warn(`worker ${w.id} (pid ${w.pid}) failed a health check (${n} of ${threshold} in a row): ${failed}`)
    if (n < threshold) return
    const neverPassed = http && !this.#passed.has(w)
    if (neverPassed && this.#replacedNeverPassing.has(w.id)) {
      this.#neverPassing.add(w)
      this.#replacedNeverPassing.delete(w.id)
      host.log.error(`worker ${w.id} (pid ${w.pid}) has failed every health check since it started (the last: ${failed}), as did the worker it replaced: the check, not the worker, is likely wrong; it is not replaced for it (fix --health-check or the app's answer to it)`,
        { event: 'health-check-never-passes', worker: w.id, pid: w.pid, healthCheck })
      return
    }
    if (neverPassed) this.#replacedNeverPassing.add(w.id)
    else this.#replacedNeverPassing.delete(w.id)
    host.replace(w, `${n} health checks failed in a row; the last: ${failed}`, { stuck: ping === null })
  }
}
