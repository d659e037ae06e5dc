// A Slot owns the one real better-sqlite3 connection of a managed database in this process.
// Handles and statements (handle.ts, statement.ts) are thin views that look the connection up
// at each call; the runtime closes it with pause() and opens it again with resume(), and each
// open starts a new generation, which tells the views to prepare again.
//
//   runtime pause  ─▶ slot.pause():  end unfinished iterators, note attachments, close
//                                    (conn() now throws HOTSWAP_ERR_PAUSED)
//   runtime resume ─▶ slot.resume(): open the file, replay what configured the connection
//                                    (record() ops, open hooks), attach again; generation++
//
// What a pause closes is closed for good or kept whole: a connection whose close fails stays
// the slot's (HOTSWAP_ERR_DB_BUSY), never dropped open on the old file.

import Database from 'better-sqlite3'
import { HotswapError } from '../../shared/errors.js'
import { getLogger } from '../../shared/logger.js'
import { attachAgain, readAttachments, type Attachment } from './attachments.js'
import { withPath } from './open-error.js'
import type { DatabaseOptions } from './open-options.js'

type Conn = Database.Database

/** An operation that configures a connection and must be replayed on every reopen. */
type Replay = (conn: Conn) => void

export type OpenHook = (conn: Conn) => void

/** What the slot needs of an iterator it tracks (SwapSafeIterator, iterator.ts). */
export interface TrackedIterator {
  /** The SQL it runs, named in the warning of a pause that ends it. */
  readonly source: string
  /** Resets its statement; its next() then says that a swap ended it. */
  end: () => void
}

export class Slot {
  readonly name: string
  readonly path: string
  generation = 0
  /** better-sqlite3's options for every open (runtime.ts: fileMustExist under serve). */
  #options: DatabaseOptions
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
  readonly #iterators = new Set<TrackedIterator>()

  constructor (name: string, path: string, options: DatabaseOptions = { fileMustExist: true }) {
    this.name = name
    this.path = path
    this.#options = options
  }

  get options (): DatabaseOptions {
    return this.#options
  }

  get readonly (): boolean {
    return this.#options.readonly === true
  }

  /**
   * Sets the options of a slot that no handle uses yet (one a pause made before the app opened
   * it, which its resume may have opened with the defaults): that idle connection is closed, and
   * the next call opens with these.
   */
  configure (options: DatabaseOptions): void {
    this.#options = options
    this.#closeConn()
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
  track (it: TrackedIterator): void {
    this.#iterators.add(it)
  }

  untrack (it: TrackedIterator): void {
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
    let conn: Conn
    try {
      conn = new Database(this.path, this.#options)
    } catch (err) {
      throw withPath(err, this.path, this.#options)
    }
    try {
      for (const op of this.#replays) op(conn)
      for (const hook of this.#openHooks) hook(conn)
      // After the hooks: one that attaches a database itself has done so already.
      attachAgain(conn, this.#attachments)
    } catch (err) {
      conn.close()
      throw err
    }
    this.#conn = conn
    this.generation++
    return conn
  }

  #readAttachments (): Attachment[] {
    return this.#conn === null ? [] : readAttachments(this.#conn)
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
