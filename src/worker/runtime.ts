// One runtime per process. The worker bootstrap and the app may load two copies of this
// package (a symlink, a dist/src split, a global CLI beside a local dependency), so the state
// lives on a global symbol and every copy gates through the same one.

import { basename, extname, resolve } from 'node:path'
import type { Server } from 'node:net'
import { HotswapError } from '../shared/errors.js'
import { getLogger } from '../shared/logger.js'
import { byNameOrPath, realpathOr } from '../shared/managed.js'
import type { DatabaseInfo, PauseValue, ResumeValue } from '../shared/messages.js'
import { Gate } from './gate.js'
import { Slot } from './database/slot.js'
import { SwapSafeDatabase } from './database/handle.js'
import { checkSameOptions, openOptions, type DatabaseOptions } from './database/open-options.js'
import { ownHolders } from './own-holders.js'
import { forgetSwapped, noteSwapped } from './orphaned-swap.js'

/**
 * An onPause/onResume hook. It gets the names of the managed databases this swap replaces (a
 * frozen copy per swap, e.g. ['cache']); a hook that takes no argument works as well.
 */
export type SwapHook = (names: readonly string[]) => unknown

export interface Runtime {
  mode: 'standalone' | 'managed'
  gate: Gate
  /** Managed databases in --db order; empty when standalone. */
  databases: DatabaseInfo[]
  slots: Map<string, Slot>
  handles: Map<string, SwapSafeDatabase>
  pauseHooks: SwapHook[]
  resumeHooks: SwapHook[]
  servers: Set<Server>
  /** Counts pauses, so a release scheduled by one resume never opens the gate of a later pause. */
  pauses: number
  /** Slots closed by the current pause because their connection has a swapped database attached. */
  pausedAlong: Set<string>
  /** Set by the worker bootstrap: tells the primary the app is ready (--wait-ready). */
  notifyReady?: () => Promise<void>
}

const KEY = Symbol.for('hotswap.runtime')

export function getRuntime (): Runtime {
  const g = globalThis as unknown as Record<symbol, Runtime | undefined>
  let rt = g[KEY]
  if (rt === undefined) {
    rt = {
      mode: 'standalone',
      gate: new Gate(),
      databases: [],
      slots: new Map(),
      handles: new Map(),
      pauseHooks: [],
      resumeHooks: [],
      servers: new Set(),
      pauses: 0,
      pausedAlong: new Set(),
    }
    g[KEY] = rt
  }
  return rt
}

function findManaged (rt: Runtime, nameOrPath: string | undefined): DatabaseInfo {
  if (nameOrPath === undefined) {
    const first = rt.databases[0]
    if (first === undefined) throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED', 'hotswap serve was started without --db')
    return first
  }
  const found = byNameOrPath(nameOrPath, process.cwd(), rt.databases)
  if (found !== undefined) return found
  const known = rt.databases.map((d) => `${d.name}=${d.path}`).join(', ')
  throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED', `"${nameOrPath}" is not a managed database (managed: ${known})`)
}

/**
 * The handle for a managed database (by name or path), or, outside `hotswap serve`, a file,
 * opened as better-sqlite3's `new Database(path, options)` would (open-options.ts).
 */
export function openDatabase (nameOrPath?: string, options?: DatabaseOptions): SwapSafeDatabase {
  const rt = getRuntime()
  let info: DatabaseInfo
  if (rt.mode === 'managed') {
    info = findManaged(rt, nameOrPath)
  } else {
    const target = nameOrPath ?? process.env.HOTSWAP_DB
    if (target === undefined || target === '') {
      throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED',
        'database() needs a path (or HOTSWAP_DB) when the app runs outside hotswap serve')
    }
    const path = realpathOr(resolve(target))
    info = { name: basename(path, extname(path)), path }
  }
  const key = info.path
  const wanted = openOptions(rt.mode, options)
  // Pauses find managed slots by name; a file opened outside serve is its own slot (two files
  // of one name in two folders are two databases).
  const slotKey = rt.mode === 'managed' ? info.name : info.path
  let slot = rt.slots.get(slotKey)
  let handle = rt.handles.get(key)
  if (handle !== undefined && slot !== undefined) {
    if (options !== undefined) checkSameOptions(info.name, info.path, slot.options, wanted)
    return handle
  }
  if (slot === undefined) {
    slot = new Slot(info.name, info.path, wanted)
    // Outside serve, opened now, as new Database() does: a bad path fails at this call (and
    // is not kept). Under serve the open waits for the first query (a worker that has served
    // nothing holds no connection to the live file).
    if (rt.mode === 'standalone') slot.conn()
    rt.slots.set(slotKey, slot)
  } else {
    slot.configure(wanted) // Made by a pause before the app opened it.
  }
  handle = new SwapSafeDatabase(slot)
  rt.handles.set(key, handle)
  return handle
}

/** Phase 1 in this worker: hold new requests, drain, run hooks, close, ack. */
export async function pauseWorker (names: string[], drainTimeoutMs: number, drainWarningMs?: number): Promise<PauseValue> {
  const rt = getRuntime()
  const pause = ++rt.pauses
  const started = performance.now()
  rt.gate.close()
  try {
    await rt.gate.drain(drainTimeoutMs, 'the swap', drainWarningMs)
  } catch (err) {
    // Never leave requests queued behind a swap that will not happen.
    if (rt.pauses === pause) rt.gate.open()
    throw err
  }
  const drained = performance.now()
  // The primary waits drain timeout + 5 s for the ack. A hook slower than that finds this
  // worker resumed when it returns (its gate open, requests running): the swap was refused, and
  // closing the database now would leave it closed for good (HOTSWAP_ERR_PAUSED on every call).
  const givenUp = (): boolean => rt.pauses !== pause || rt.gate.isOpen
  let abandoned = givenUp()
  try {
    if (!abandoned) for (const hook of rt.pauseHooks) await hook(swapped(names))
    abandoned ||= givenUp()
    if (abandoned) {
      // The resume ran its onResume hooks before these onPause hooks returned: run them again,
      // so what the onPause hooks tore down is set up again. A later pause is in charge of its own.
      if (rt.pauses === pause) {
        for (const hook of rt.resumeHooks) {
          try { await hook(swapped(names)) } catch (e) { getLogger(`worker ${process.env.HOTSWAP_WORKER_ID ?? process.pid}`).warn(`onResume after a pause given up: ${(e as Error).message}`) }
        }
      }
      throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
        `its onPause hooks returned after ${Math.round(performance.now() - drained)} ms, when the swap had given up on this worker; the database stayed open`)
    }
    noteSwapped(names.flatMap((n) => rt.databases.filter((d) => d.name === n)))
    for (const name of names) rt.slots.get(name)?.pause()
    // Slots the app has not opened yet must stay closed until resume too.
    for (const name of names) {
      if (!rt.slots.has(name)) {
        const info = rt.databases.find((d) => d.name === name)
        if (info !== undefined) {
          const slot = new Slot(info.name, info.path)
          slot.pause()
          rt.slots.set(name, slot)
        }
      }
    }
    pauseAttachers(rt, names)
  } catch (err) {
    // Given up: the resume has run already (or a later pause owns the gate); nothing to undo.
    if (abandoned || givenUp()) throw err
    // Undone as a resume does it, onResume hooks included: what the onPause hooks that ran tore
    // down (a pool, a cache) is set up again before the queued requests run.
    await resumeWorker(names).catch((e: Error) => getLogger(`worker ${process.env.HOTSWAP_WORKER_ID ?? process.pid}`).warn(`undoing a failed pause: ${e.message}`))
    if (!rt.gate.isOpen) rt.gate.open()
    throw err
  }
  const closed = performance.now()
  // Whatever still has a swapped file open now is a connection of the app's own: the primary
  // refuses the swap (or, with --force, warns) naming this worker.
  const holders = ownHolders(names.flatMap((n) => rt.databases.filter((d) => d.name === n).map((d) => d.path)))
  return { drainMs: drained - started, closeMs: closed - drained, holders }
}

/**
 * A managed connection that has a database being swapped ATTACHed reads it through its own
 * descriptor: it closes with it, and its reopen attaches the new file (Slot keeps the list).
 * A slot whose connection cannot say (busy through the raw db.connection; an iterator of ours
 * answers with what it had attached when it started) is left open; the fd scan then reports it.
 */
function pauseAttachers (rt: Runtime, names: string[]): void {
  const paths = new Set(names.flatMap((n) => rt.databases.filter((d) => d.name === n).map((d) => d.path)))
  for (const slot of rt.slots.values()) {
    if (names.includes(slot.name) || !slot.isOpen) continue
    let files: string[]
    try {
      files = slot.attachedFiles()
    } catch {
      continue
    }
    if (!files.some((f) => paths.has(f) || paths.has(realpathOr(f)))) continue
    slot.pause()
    rt.pausedAlong.add(slot.name)
  }
}

/** `names` and the slots paused along with them; the latter are forgotten once returned. */
function withPausedAlong (rt: Runtime, names: string[]): string[] {
  const along = [...rt.pausedAlong].filter((n) => !names.includes(n))
  rt.pausedAlong.clear()
  return [...names, ...along]
}

/**
 * Phase 3 in this worker: reopen, run hooks, release the queue, ack. Idempotent.
 *
 * A failure here does not keep requests waiting: the primary replaces this worker (one at a
 * time, gracefully), and until then it serves on. Which requests it serves depends on what failed:
 *  - an onResume hook threw, the connections reopened: the queued requests run, on the new file
 *    (every hook still runs: one that throws does not skip the others);
 *  - a connection did not reopen: the queued requests get 503 with Retry-After and
 *    Connection: close, so clients retry on a fresh connection (most likely another worker)
 *    instead of running in an app whose database is not open. Later requests reach the app,
 *    whose first database call retries the open.
 * Either way the reply is a HOTSWAP_ERR_WORKER_FAILED error saying what failed.
 */
export async function resumeWorker (names: string[]): Promise<ResumeValue> {
  const rt = getRuntime()
  const started = performance.now()
  forgetSwapped()
  let reopenFailure: { name: string, err: unknown } | undefined
  for (const name of withPausedAlong(rt, names)) {
    try {
      rt.slots.get(name)?.resume()
    } catch (err) {
      reopenFailure ??= { name, err }
    }
  }
  const openMs = performance.now() - started
  let hookFailure: unknown
  if (!rt.gate.isOpen) {
    for (const hook of rt.resumeHooks) {
      try {
        await hook(swapped(names))
      } catch (err) {
        hookFailure ??= err
      }
    }
  }
  if (reopenFailure !== undefined || hookFailure !== undefined) {
    const what: string[] = []
    if (reopenFailure !== undefined) what.push(`reopening database "${reopenFailure.name}" failed: ${messageOf(reopenFailure.err)}`)
    if (hookFailure !== undefined) what.push(`an onResume hook threw: ${messageOf(hookFailure)}`)
    let released: string
    if (rt.gate.isOpen) {
      released = 'no request was queued'
    } else if (reopenFailure !== undefined) {
      const answered = rt.gate.refuseQueued(503, `the database "${reopenFailure.name}" could not be reopened in this worker after a swap; retry`)
      released = `${answered} queued request(s) answered 503 (Retry-After)`
    } else {
      const n = rt.gate.open()
      released = `${n} queued request(s) released on the new file`
    }
    throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED', `${what.join('; ')} (${released})`)
  }
  const released = rt.gate.isOpen ? 0 : rt.gate.queued
  if (!rt.gate.isOpen) {
    // Ack first, release right after: open() runs every queued request's handler synchronously,
    // and the swap's pause window need not wait for them. They read the new file either way:
    // the connections were reopened above, before the ack.
    const pauses = rt.pauses
    setImmediate(() => { if (rt.pauses === pauses && !rt.gate.isOpen) rt.gate.open() })
  }
  return { openMs, released }
}

/**
 * What a hook is told: only the databases the primary swaps. A slot paused along (it has one of
 * them ATTACHed) is closed and reopened too, but its own file is not replaced, so its name is
 * not in the list. A copy per hook call: one hook cannot change what the next one sees.
 */
function swapped (names: readonly string[]): readonly string[] {
  return Object.freeze([...names])
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
