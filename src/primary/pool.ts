// The piscina pools. All SQLite work of the primary (validation, checkpoint, rename, snapshots)
// runs here: on Linux the primary's event loop accepts every connection for the workers, so
// it must never block on a disk or a query.
//
//   lane 'shared' ─▶ 2 threads: validate, snapshot, readSourceThroughSqlite
//   lane 'swap'   ─▶ the swap's own thread (1, kept warm): what runs under the swap lock on the
//                    way to and inside the pause (findHolders, install)
//
// What runs while every worker is paused never waits for unrelated work. On the shared pool the
// install queued behind other pushes' validations (FIFO; piscina 5 has no priorities, and a
// priority queue would still wait for a running task to end): 0.8-1.2 s with every worker
// paused. The swap lock lets one such task run at a time, so one thread is enough. It costs one
// idle thread in the primary: its V8 isolate and the SQLite addon loaded in it, 9.3 MB RSS
// (measured: a pool of tasks.js threads before and after the second pool's thread ran a task).

import { Piscina } from 'piscina'
import type { TaskResult } from './tasks.js'
import { HotswapError } from '../shared/errors.js'

const TASKS = new URL('./tasks.js', import.meta.url).href

/** Milliseconds since the epoch, to the microsecond, comparable across threads. */
export function clock (): number {
  return performance.timeOrigin + performance.now()
}

export type Lane = 'shared' | 'swap'

export class TaskPool {
  readonly #pool: Piscina
  readonly #swap: Piscina

  constructor () {
    this.#pool = new Piscina({
      filename: TASKS,
      minThreads: 1,
      // Two threads: a validation and a snapshot may overlap; more only grows the primary's RSS.
      maxThreads: 2,
      idleTimeout: 30_000,
    })
    // minThreads threads are never retired, so this one is started now and stays warm: no
    // thread start (tens of ms) inside a pause.
    this.#swap = new Piscina({ filename: TASKS, minThreads: 1, maxThreads: 1 })
  }

  /**
   * Runs a named task; a failed TaskResult becomes a thrown HotswapError. On the 'swap' lane
   * an object input gets `submittedAt` (clock()), so the task can say how long it waited.
   */
  async run<T> (name: string, input: unknown, lane: Lane = 'shared'): Promise<T> {
    const result = await this.runRaw<TaskResult<T>>(name, input, lane)
    if (result.ok) return result.value
    throw new HotswapError(result.code, result.message, result.details)
  }

  async runRaw<T> (name: string, input: unknown, lane: Lane = 'shared'): Promise<T> {
    if (lane === 'shared') return await this.#pool.run(input, { name }) as T
    const stamped = typeof input === 'object' && input !== null ? { ...input, submittedAt: clock() } : input
    return await this.#swap.run(stamped, { name }) as T
  }

  async close (): Promise<void> {
    await Promise.all([this.#pool.destroy(), this.#swap.destroy()])
  }
}
