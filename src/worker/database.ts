// Swap-safe database handles. A Slot owns the one real better-sqlite3 connection of a managed
// database in this process; handles and statements are thin views that look the connection up
// at each call, so they stay valid when a swap closes the old file and opens the new one.
//
//   app ── SwapSafeDatabase ──┐
//   app ── SwapSafeStatement ─┴─▶ Slot (generation n) ── better-sqlite3 Database ── file
//
// Statements are re-prepared lazily when the slot's generation has moved on, with their
// recorded modes re-applied. There is no global registry of statements: apps prepare statements
// per request, and those must stay collectable.
//
// Attached databases (`ATTACH 'cache.sqlite3' AS cache`, however the app ran it) are read from
// the connection (`PRAGMA database_list`) when a pause closes it, and attached again on the
// reopen, so statements on `cache.*` keep working after a swap of either file.

import Database from 'better-sqlite3'
import { HotswapError } from '../shared/errors.js'
import { getLogger } from '../shared/logger.js'

type Conn = Database.Database
type Stmt = Database.Statement<unknown[], unknown>

/** An operation that configures a connection and must be replayed on every reopen. */
type Replay = (conn: Conn) => void

export type OpenHook = (conn: Conn) => void

/** A database attached to a connection: its schema name and its file ('' for a temporary one). */
interface Attachment { name: string, file: string }

export class Slot {
  readonly name: string
  readonly path: string
  generation = 0
  #conn: Conn | null = null
  #paused = false
  #closedByApp = false
  readonly #replays: Replay[] = []
  readonly #openHooks: OpenHook[] = []
  /** What the connection had attached when a pause closed it; attached again on the reopen. */
  #attachments: Attachment[] = []
  /** What the connection had attached when the tracked iterators started (see attachedFiles). */
  #attachedAtIterate: Attachment[] | null = null
  /** Iterators handed out by SwapSafeStatement.iterate() and not run to their end yet. */
  readonly #iterators = new Set<SwapSafeIterator>()

  constructor (name: string, path: string) {
    this.name = name
    this.path = path
  }

  get isOpen (): boolean {
    return this.#conn !== null
  }

  get isPaused (): boolean {
    return this.#paused
  }

  /** True when a call now would find (or open) a connection. */
  get available (): boolean {
    return !this.#paused && !this.#closedByApp
  }

  conn (): Conn {
    if (this.#conn !== null) return this.#conn
    if (this.#closedByApp) throw new TypeError('The database connection is not open')
    if (this.#paused) {
      throw new HotswapError('HOTSWAP_ERR_PAUSED',
        `database "${this.name}" is closed while it is being swapped; wrap background work in gate()`)
    }
    return this.#open()
  }

  /** Runs `op` now (when open) and again on every reopen. */
  record (op: Replay): void {
    this.#replays.push(op)
    if (this.#conn !== null) op(this.#conn)
  }

  addOpenHook (hook: OpenHook): void {
    this.#openHooks.push(hook)
    if (this.#conn !== null) hook(this.#conn)
  }

  /**
   * The files attached to the open connection (not main or temp); none when it is closed. An
   * iterator of ours keeps the connection busy (it cannot be asked): what it had attached when
   * the first of them started is the answer then (nothing can attach while it stays busy).
   */
  attachedFiles (): string[] {
    let list: Attachment[]
    try {
      list = this.#readAttachments()
    } catch (err) {
      if (this.#iterators.size === 0 || this.#attachedAtIterate === null) throw err
      list = this.#attachedAtIterate
    }
    return list.map((a) => a.file).filter((f) => f !== '')
  }

  /** Called just before an iterator starts: notes what the connection has attached. */
  noteAttachments (): void {
    if (this.#iterators.size > 0) return // Busy already: the note of the first one still holds.
    try {
      this.#attachedAtIterate = this.#readAttachments()
    } catch {
      this.#attachedAtIterate = null // Busy through the raw connection: nothing known.
    }
  }

  /** Counts an iterator as open until it finishes (see #endIterators). */
  track (it: SwapSafeIterator): void {
    this.#iterators.add(it)
  }

  untrack (it: SwapSafeIterator): void {
    this.#iterators.delete(it)
  }

  /**
   * Pause: close the connection; nothing reopens it until resume(). Runs after the drain, so
   * an iterator still open here belongs to no request in flight: one left unfinished by a
   * request that has ended (a streaming response whose client went away). Its statement keeps
   * the connection busy, and better-sqlite3 refuses to close a busy connection, so it is ended
   * first (its next() then throws HOTSWAP_ERR_PAUSED, never a silent end of rows). What the
   * connection has attached is read then, to be attached again on the reopen.
   */
  pause (): void {
    this.#paused = true
    const ended = this.#endIterators()
    if (ended.length > 0) {
      log().warn(`closed ${ended.length} unfinished iterator(s) on database "${this.name}" for the swap: ` +
        `${[...new Set(ended)].map((sql) => JSON.stringify(sql)).join(', ')}; run iterate() to its end, or call its return(), ` +
        'when a response stops early (its client went away)')
    }
    if (this.#conn !== null) {
      try {
        this.#attachments = this.#readAttachments()
      } catch {
        // A busy connection (an iterator on the raw connection) cannot run the pragma; the
        // close below reports it.
      }
    }
    try {
      this.#closeConn()
    } catch (err) {
      // Still open, not orphaned: the swap is refused and this connection serves on.
      this.#paused = false
      if (!/busy/i.test((err as Error).message)) throw err
      throw new HotswapError('HOTSWAP_ERR_DB_BUSY',
        `database "${this.name}" cannot be closed for the swap: a statement is still running on its connection ` +
        '(an iterate() left unfinished on the raw db.connection); ' +
        'the swap is refused and the connection stays open on the current file (hotswap reload restarts the workers)')
    }
  }

  /** Resume: reopen eagerly, so the first request after a swap does not pay for the open. */
  resume (): void {
    this.#paused = false
    if (!this.#closedByApp && this.#conn === null) this.#open()
  }

  closeByApp (): void {
    // As better-sqlite3's close(): refused while an iterator runs (and the handle stays open).
    this.#closeConn()
    this.#closedByApp = true
  }

  /** Closes for good at shutdown; the close checkpoints and removes the -wal when we are last. */
  shutdown (): void {
    this.#endIterators()
    this.#closeConn()
    this.#closedByApp = true
  }

  /** Ends every tracked iterator; returns the SQL of each. */
  #endIterators (): string[] {
    const ended: string[] = []
    for (const it of this.#iterators) {
      ended.push(it.source)
      it.end()
    }
    this.#iterators.clear()
    return ended
  }

  #open (): Conn {
    const conn = new Database(this.path, { fileMustExist: true })
    try {
      for (const op of this.#replays) op(conn)
      for (const hook of this.#openHooks) hook(conn)
      // After the hooks: one that attaches a database itself has done so already.
      if (this.#attachments.length > 0) {
        const attached = new Set((conn.pragma('database_list') as Attachment[]).map((d) => d.name))
        const attach = conn.prepare('ATTACH DATABASE ? AS ?')
        for (const a of this.#attachments) if (!attached.has(a.name)) attach.run(a.file, a.name)
      }
    } catch (err) {
      conn.close()
      throw err
    }
    this.#conn = conn
    this.generation++
    return conn
  }

  #readAttachments (): Attachment[] {
    if (this.#conn === null) return []
    return (this.#conn.pragma('database_list') as Array<{ seq: number, name: string, file: string }>)
      .filter((d) => d.name !== 'main' && d.name !== 'temp')
      .map((d) => ({ name: d.name, file: d.file }))
  }

  /**
   * Closes the connection, or throws and keeps it: a connection dropped here while its close
   * fails would stay open, unreachable, on the old file until the process exits (its disk
   * space with it), and its statements would run on the old data.
   */
  #closeConn (): void {
    const conn = this.#conn
    if (conn === null) return
    conn.close() // Throws while a statement runs (an unfinished iterator): #conn is kept then.
    this.#conn = null
  }
}

let logger: ReturnType<typeof getLogger> | undefined
function log (): ReturnType<typeof getLogger> {
  logger ??= getLogger(`worker ${process.env.HOTSWAP_WORKER_ID ?? process.pid}`)
  return logger
}

/**
 * What SwapSafeStatement.iterate() returns: better-sqlite3's iterator, tracked by its slot from
 * the first row to the last (or its return()), so a pause can end one left unfinished.
 */
export class SwapSafeIterator implements IterableIterator<unknown> {
  readonly source: string
  readonly #slot: Slot
  #it: IterableIterator<unknown> | null
  #endedBySwap = false

  constructor (slot: Slot, source: string, it: IterableIterator<unknown>) {
    this.#slot = slot
    this.source = source
    this.#it = it
    slot.track(this)
  }

  next (): IteratorResult<unknown> {
    const it = this.#it
    if (it === null) {
      if (this.#endedBySwap) {
        throw new HotswapError('HOTSWAP_ERR_PAUSED',
          `this iterator over ${JSON.stringify(this.source)} was left unfinished and ended when database "${this.#slot.name}" was closed for a swap`)
      }
      return { done: true, value: undefined }
    }
    let r: IteratorResult<unknown>
    try {
      r = it.next()
    } catch (err) {
      this.#release()
      throw err
    }
    if (r.done === true) this.#release()
    return r
  }

  return (value?: unknown): IteratorResult<unknown> {
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

type ModeOp = ['pluck' | 'expand' | 'raw' | 'safeIntegers', boolean]

export class SwapSafeStatement {
  readonly #slot: Slot
  readonly source: string
  #stmt: Stmt | null = null
  #generation = -1
  readonly #modes: ModeOp[] = []
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
    for (const [mode, on] of this.#modes) stmt[mode](on)
    if (this.#bound !== null) stmt.bind(...this.#bound)
    this.#stmt = stmt
    this.#generation = this.#slot.generation
    return stmt
  }

  #mode (mode: ModeOp[0], on: boolean): this {
    // pluck, expand and raw exclude each other; keep only what matters for the replay.
    const exclusive = mode !== 'safeIntegers'
    for (let i = this.#modes.length - 1; i >= 0; i--) {
      const m = (this.#modes[i] as ModeOp)[0]
      if (m === mode || (exclusive && m !== 'safeIntegers')) this.#modes.splice(i, 1)
    }
    this.#modes.push([mode, on])
    if (this.#stmt !== null && this.#generation === this.#slot.generation) this.#stmt[mode](on)
    return this
  }

  get reader (): boolean { return this.#current().reader }
  get readonly (): boolean { return this.#current().readonly }
  get busy (): boolean { return this.#stmt !== null && this.#generation === this.#slot.generation && this.#stmt.busy }
  get database (): Conn { return this.#slot.conn() }

  run (...params: unknown[]): Database.RunResult { return this.#current().run(...params) }
  get (...params: unknown[]): unknown { return this.#current().get(...params) }
  all (...params: unknown[]): unknown[] { return this.#current().all(...params) }
  iterate (...params: unknown[]): SwapSafeIterator {
    const stmt = this.#current()
    this.#slot.noteAttachments()
    return new SwapSafeIterator(this.#slot, this.source, stmt.iterate(...params))
  }
  columns (): Database.ColumnDefinition[] { return this.#current().columns() }
  pluck (on = true): this { return this.#mode('pluck', on) }
  expand (on = true): this { return this.#mode('expand', on) }
  raw (on = true): this { return this.#mode('raw', on) }
  safeIntegers (on = true): this { return this.#mode('safeIntegers', on) }

  bind (...params: unknown[]): this {
    this.#current().bind(...params)
    this.#bound = params
    return this
  }
}

// any[], as better-sqlite3's own typing has it: a function with typed parameters, such as
// (name: string) => ..., must be accepted, and unknown[] parameters would refuse it.
type TxFn = (...args: any[]) => unknown

export interface SwapSafeTransaction<F extends TxFn> {
  (...args: Parameters<F>): ReturnType<F>
  deferred: (...args: Parameters<F>) => ReturnType<F>
  immediate: (...args: Parameters<F>) => ReturnType<F>
  exclusive: (...args: Parameters<F>) => ReturnType<F>
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
  get readonly (): boolean { return false }
  get memory (): boolean { return false }

  /** The current better-sqlite3 connection. Not swap-safe: do not keep it across requests. */
  get connection (): Conn { return this.#slot.conn() }

  prepare (source: string): SwapSafeStatement {
    return new SwapSafeStatement(this.#slot, source)
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

  aggregate (name: string, options: Database.AggregateOptions): this {
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
    const slot = this.#slot
    let generation = -1
    let tx: Database.Transaction<F> | null = null
    const current = (): Database.Transaction<F> => {
      const conn = slot.conn()
      if (tx === null || generation !== slot.generation) {
        tx = conn.transaction(fn)
        generation = slot.generation
      }
      return tx
    }
    const wrapper = function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
      return current().apply(this, args as never) as ReturnType<F>
    } as SwapSafeTransaction<F>
    wrapper.deferred = function (this: unknown, ...args) { return current().deferred.apply(this, args as never) as ReturnType<F> }
    wrapper.immediate = function (this: unknown, ...args) { return current().immediate.apply(this, args as never) as ReturnType<F> }
    wrapper.exclusive = function (this: unknown, ...args) { return current().exclusive.apply(this, args as never) as ReturnType<F> }
    return wrapper
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
