// The swap lock: one operation on the live files at a time. Pushes take it, and so does every
// other operation that must not see a rename under it (a pull's snapshot, a reload, the
// shutdown); later ones (a generation's commit or undo) take it the same way.
//
//   withLock(label, fn) ─▶ wait behind earlier holders (FIFO) ─▶ fn() ─▶ release ─▶ next waiter

import type { Logger } from '../../shared/logger.js'

/** A FIFO lock: waiters are served in the order they asked. */
class Lock {
  #tail: Promise<void> = Promise.resolve()
  #held = false

  get held (): boolean {
    return this.#held
  }

  async acquire (): Promise<() => void> {
    let release!: () => void
    const next = new Promise<void>((resolve) => { release = resolve })
    const previous = this.#tail
    this.#tail = previous.then(() => next)
    await previous
    this.#held = true
    return () => {
      this.#held = false
      release()
    }
  }
}

export class SwapLock {
  readonly #lock = new Lock()
  readonly #log: Logger

  constructor (logger: Logger) {
    this.#log = logger
  }

  get held (): boolean {
    return this.#lock.held
  }

  /** Runs `fn` holding the lock; `waitMs` is how long it waited for it. */
  async withLock<T> (label: string, fn: () => Promise<T>): Promise<{ value: T, waitMs: number }> {
    const asked = performance.now()
    if (this.#lock.held) this.#log.info(`${label}: waiting for the swap lock`)
    const release = await this.#lock.acquire()
    const waitMs = performance.now() - asked
    try {
      return { value: await fn(), waitMs }
    } finally {
      release()
    }
  }
}
