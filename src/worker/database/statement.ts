// A prepared statement that survives swaps. It holds the SQL, not the connection's statement:
// at each call it asks the slot for the current connection and, when the slot's generation has
// moved on (a swap reopened it), prepares the SQL again and re-applies its recorded modes
// (pluck, expand, raw, safeIntegers) and bound parameters.
//
//   stmt.get() ─▶ #current() ── same generation? ── yes ─▶ better-sqlite3 Statement
//                                               └── no ──▶ conn.prepare(source) + modes + bind
//
// There is no global registry of statements: apps prepare statements per request, and those
// must stay collectable.

import type Database from 'better-sqlite3'
import { SwapSafeIterator } from './iterator.js'
import type { Slot } from './slot.js'

type Conn = Database.Database
type Stmt = Database.Statement<unknown[], unknown>

/** better-sqlite3's row mode: one of four, as its statement keeps it (statement.cpp's `mode`). */
type RowMode = 'flat' | 'pluck' | 'expand' | 'raw'

/**
 * Typed as better-sqlite3's `Statement<BindParameters, Result>` (@types/better-sqlite3), so a
 * handle passes for a better-sqlite3 `Database` (drizzle, Kysely) and
 * `db.prepare<[number], Todo>(sql).get(1)` is a `Todo | undefined`. As there, pluck(), expand()
 * and raw() keep the type: the row type is the caller's to state.
 */
export class SwapSafeStatement<BindParameters extends unknown[] = unknown[], Result = unknown> {
  readonly #slot: Slot
  readonly source: string
  #stmt: Stmt | null = null
  #generation = -1
  #rowMode: RowMode = 'flat'
  #safeIntegers: boolean | null = null
  #bound: unknown[] | null = null

  constructor (slot: Slot, source: string) {
    this.#slot = slot
    this.source = source
    // Prepare at once when we can, so SQL errors surface where the statement is written.
    if (slot.available) this.#current()
  }

  #current (): Stmt {
    const conn = this.#slot.conn()
    if (this.#stmt !== null && this.#generation === this.#slot.generation) return this.#stmt
    const stmt = conn.prepare(this.source) as Stmt
    if (this.#rowMode !== 'flat') stmt[this.#rowMode](true)
    if (this.#safeIntegers !== null) stmt.safeIntegers(this.#safeIntegers)
    if (this.#bound !== null) stmt.bind(...this.#bound)
    this.#stmt = stmt
    this.#generation = this.#slot.generation
    return stmt
  }

  #mode (mode: Exclude<RowMode, 'flat'>, on: boolean): this {
    if (this.#stmt !== null && this.#generation === this.#slot.generation) this.#stmt[mode](on)
    // The same rule as better-sqlite3's: turning a mode on replaces the others; turning one off
    // only matters when it is the one in force (`raw().pluck(false)` stays raw).
    if (on) this.#rowMode = mode
    else if (this.#rowMode === mode) this.#rowMode = 'flat'
    return this
  }

  get reader (): boolean { return this.#current().reader }
  get readonly (): boolean { return this.#current().readonly }
  get busy (): boolean { return this.#stmt !== null && this.#generation === this.#slot.generation && this.#stmt.busy }
  get database (): Conn { return this.#slot.conn() }

  run (...params: BindParameters): Database.RunResult { return this.#current().run(...params) }
  get (...params: BindParameters): Result | undefined { return this.#current().get(...params) as Result | undefined }
  all (...params: BindParameters): Result[] { return this.#current().all(...params) as Result[] }
  iterate (...params: BindParameters): SwapSafeIterator<Result> {
    const stmt = this.#current()
    this.#slot.noteAttachments()
    return new SwapSafeIterator(this.#slot, this.source, stmt.iterate(...params) as IterableIterator<Result>)
  }
  columns (): Database.ColumnDefinition[] { return this.#current().columns() }
  pluck (on = true): this { return this.#mode('pluck', on) }
  expand (on = true): this { return this.#mode('expand', on) }
  raw (on = true): this { return this.#mode('raw', on) }
  safeIntegers (on = true): this {
    if (this.#stmt !== null && this.#generation === this.#slot.generation) this.#stmt.safeIntegers(on)
    this.#safeIntegers = on
    return this
  }

  bind (...params: BindParameters): this {
    this.#current().bind(...params)
    this.#bound = params
    return this
  }
}
