// The piscina pool. All SQLite work of the primary (validation, checkpoint, rename, snapshots)
// runs here: on Linux the primary's event loop accepts every connection for the workers, so
// it must never block on a disk or a query.

import { Piscina } from 'piscina'
import type { TaskResult } from './tasks.js'
import { HotswapError } from '../shared/errors.js'

export class TaskPool {
  readonly #pool: Piscina

  constructor () {
    this.#pool = new Piscina({
      filename: new URL('./tasks.js', import.meta.url).href,
      minThreads: 1,
      // Two threads: a validation and a snapshot may overlap; more only grows the primary's RSS.
      maxThreads: 2,
      idleTimeout: 30_000,
    })
  }

  /** Runs a named task; a failed TaskResult becomes a thrown HotswapError. */
  async run<T> (name: string, input: unknown): Promise<T> {
    const result = await this.#pool.run(input, { name }) as TaskResult<T>
    if (result.ok) return result.value
    throw new HotswapError(result.code, result.message, result.details)
  }

  async runRaw<T> (name: string, input: unknown): Promise<T> {
    return await this.#pool.run(input, { name }) as T
  }

  async close (): Promise<void> {
    await this.#pool.destroy()
  }
}
