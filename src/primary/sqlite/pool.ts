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
import { HotswapError } from '../../shared/errors.js'
import { clock, type TaskResult } from './result.js'
import type { TaskTable } from './tasks.js'

const TASKS = new URL('./tasks.js', import.meta.url).href

export type Lane = 'shared' | 'swap'

export type TaskName = keyof TaskTable
export type TaskInput<N extends TaskName> = Parameters<TaskTable[N]>[0]
export type TaskValue<N extends TaskName> = ReturnType<TaskTable[N]> extends TaskResult<infer T> ? T : never

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
   * Runs a named task; its input and value are the task table's. A failed TaskResult becomes a
   * thrown HotswapError. On the 'swap' lane the input gets `submittedAt` (clock()), so the task
   * can say how long it waited.
   */
  async run<N extends TaskName> (name: N, input: TaskInput<N>, lane: Lane = 'shared'): Promise<TaskValue<N>> {
    const result = lane === 'shared'
      ? await this.#pool.run(input, { name }) as TaskResult<TaskValue<N>>
      : await this.#swap.run({ ...input, submittedAt: clock() }, { name }) as TaskResult<TaskValue<N>>
    if (result.ok) return result.value
    throw new HotswapError(result.code, result.message, result.details)
  }

  async close (): Promise<void> {
    await Promise.all([this.#pool.destroy(), this.#swap.destroy()])
  }
}
