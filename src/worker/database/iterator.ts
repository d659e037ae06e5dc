// What SwapSafeStatement.iterate() returns: better-sqlite3's iterator, tracked by its slot from
// the first row to the last (or its return()), so a pause can end one left unfinished.
//
//   iterate() ─▶ SwapSafeIterator ── slot.track ─▶ Slot (pause: end() every tracked one)
//                      │ next() … done / return() / a throw ── slot.untrack
//                      └ ended by a pause: next() throws HOTSWAP_ERR_PAUSED (never a silent end)

import { HotswapError } from '../../shared/errors.js'
import type { Slot } from './slot.js'

/** `Row` is the statement's row type (SwapSafeStatement<P, Row>), as better-sqlite3's iterate() has it. */
export class SwapSafeIterator<Row = unknown> implements IterableIterator<Row> {
  readonly source: string
  readonly #slot: Slot
  #it: IterableIterator<Row> | null
  #endedBySwap = false

  constructor (slot: Slot, source: string, it: IterableIterator<Row>) {
    this.#slot = slot
    this.source = source
    this.#it = it
    slot.track(this)
  }

  next (): IteratorResult<Row> {
    const it = this.#it
    if (it === null) {
      if (this.#endedBySwap) {
        throw new HotswapError('HOTSWAP_ERR_PAUSED',
          `this iterator over ${JSON.stringify(this.source)} was left unfinished and ended when database "${this.#slot.name}" was closed for a swap`)
      }
      return { done: true, value: undefined }
    }
    let r: IteratorResult<Row>
    try {
      r = it.next()
    } catch (err) {
      this.#release()
      throw err
    }
    if (r.done === true) this.#release()
    return r
  }

  return (value?: unknown): IteratorResult<Row> {
    const it = this.#it
    if (it !== null) {
      this.#release()
      it.return?.()
    }
    return { done: true, value }
  }

  [Symbol.iterator] (): this {
    return this
  }

  /** Called by the slot: the statement is reset, and next() says why it stopped. */
  end (): void {
    const it = this.#it
    if (it === null) return
    this.#it = null
    this.#endedBySwap = true
    it.return?.()
  }

  #release (): void {
    this.#it = null
    this.#slot.untrack(this)
  }
}
