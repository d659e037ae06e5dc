// The app's handle on a managed database, with better-sqlite3's surface (what database()
// returns). It holds no connection: every call goes to the slot's current one, so the handle
// stays valid when a swap closes the old file and opens the new one. What configures a
// connection (pragmas that set something, user functions, aggregates, virtual tables,
// extensions, default modes, onOpen hooks) is recorded on the slot and replayed on every reopen.
//
//   app ── SwapSafeDatabase ──┐
//   app ── SwapSafeStatement ─┴─▶ Slot (generation n) ── better-sqlite3 Database ── file

import type Database from 'better-sqlite3'
import type { OpenHook, Slot } from './slot.js'
import { SwapSafeStatement } from './statement.js'
import { swapSafeTransaction, type SwapSafeTransaction, type TxFn } from './transaction.js'

type Conn = Database.Database
/** better-sqlite3's aggregate() options, with its accumulator type T. */
type AggregateOptions<T> = Database.RegistrationOptions & {
  start?: T | (() => T)
  step: (total: T, next: T extends Array<infer E> ? E : T) => T | void
  inverse?: ((total: T, dropped: T) => T) | undefined
  result?: ((total: T) => unknown) | undefined
}

export class SwapSafeDatabase {
  readonly #slot: Slot

  constructor (slot: Slot) {
    this.#slot = slot
  }

  get name (): string { return this.#slot.path }
  get databaseName (): string { return this.#slot.name }
  get open (): boolean { return this.#slot.available }
  get inTransaction (): boolean { return this.#slot.isOpen && this.#slot.conn().inTransaction }
  get readonly (): boolean { return this.#slot.readonly }
  get memory (): boolean { return false }

  /** The current better-sqlite3 connection. Not swap-safe: do not keep it across requests. */
  get connection (): Conn { return this.#slot.conn() }

  /**
   * Generic as better-sqlite3's: `prepare<[number], Todo>(sql)` types the bind parameters and
   * the rows; a single non-array type is one named-parameter object (`prepare<{ id: number }>`).
   */
  prepare<BindParameters extends unknown[] | {} = unknown[], Result = unknown> (source: string):
  BindParameters extends unknown[] ? SwapSafeStatement<BindParameters, Result> : SwapSafeStatement<[BindParameters], Result> {
    return new SwapSafeStatement(this.#slot, source) as never
  }

  exec (source: string): this {
    this.#slot.conn().exec(source)
    return this
  }

  /** Pragmas that set something (`name = value`) are replayed on every reopen; reads are not. */
  pragma (source: string, options?: Database.PragmaOptions): unknown {
    if (source.includes('=')) {
      let result: unknown
      let first = true
      this.#slot.conn() // Surface HOTSWAP_ERR_PAUSED before recording.
      this.#slot.record((conn) => {
        const r = conn.pragma(source, options)
        if (first) { result = r; first = false }
      })
      return result
    }
    return this.#slot.conn().pragma(source, options)
  }

  function (name: string, optionsOrFn: Database.RegistrationOptions | ((...params: any[]) => unknown), maybeFn?: (...params: any[]) => unknown): this {
    this.#slot.conn()
    this.#slot.record((conn) => {
      if (typeof optionsOrFn === 'function') conn.function(name, optionsOrFn)
      else conn.function(name, optionsOrFn, maybeFn as (...params: any[]) => unknown)
    })
    return this
  }

  aggregate<T> (name: string, options: AggregateOptions<T>): this {
    this.#slot.conn()
    this.#slot.record((conn) => { conn.aggregate(name, options) })
    return this
  }

  table (name: string, definition: Parameters<Conn['table']>[1]): this {
    this.#slot.conn()
    this.#slot.record((conn) => { conn.table(name, definition) })
    return this
  }

  loadExtension (path: string): this {
    this.#slot.conn()
    this.#slot.record((conn) => { conn.loadExtension(path) })
    return this
  }

  defaultSafeIntegers (on = true): this {
    this.#slot.conn()
    this.#slot.record((conn) => { conn.defaultSafeIntegers(on) })
    return this
  }

  unsafeMode (on = true): this {
    this.#slot.conn()
    this.#slot.record((conn) => { conn.unsafeMode(on) })
    return this
  }

  /** Runs `hook` on the connection now and after every reopen (pragmas, functions, …). */
  onOpen (hook: OpenHook): this {
    this.#slot.addOpenHook(hook)
    return this
  }

  /** The wrapper looks up the current connection at each call, so it survives swaps. */
  transaction<F extends TxFn> (fn: F): SwapSafeTransaction<F> {
    return swapSafeTransaction(this.#slot, fn)
  }

  serialize (options?: Database.SerializeOptions): Buffer {
    return this.#slot.conn().serialize(options)
  }

  backup (destination: string, options?: Database.BackupOptions): Promise<Database.BackupMetadata> {
    return this.#slot.conn().backup(destination, options)
  }

  close (): this {
    this.#slot.closeByApp()
    return this
  }
}
