// One database's generations: the manifest in memory and on disk, the kept files beside it, and
// the plan of the next swap (which id it makes live, where the old file is kept).
//
//   start-up: open ─▶ manifest read (or made: generation 1 = the file found) ─▶ checked against
//             the disk (a listed file missing is dropped, an unlisted one removed)
//   a swap:   plan ─▶ [pause: install links the old file at keepPath, renames the new one in]
//             ─▶ save(next) ─▶ retired(): its size and digest ─▶ prune(): beyond --keep, removed
//
// The manifest is written before a kept file is removed and after one is added, so a crash in
// between leaves an unlisted file (removed at the next start), never a listed one missing.

import { readdirSync, rmSync, statSync, promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import {
  ensureFolder, keptFileName, keptOf, liveOf, MANIFEST, readJson, removeDurably, writeJson, writeJsonSync,
  type Generation, type GenerationSource, type Manifest,
} from './manifest.js'

/** A swap of one database, planned before the pause. */
export interface Planned {
  db: DatabaseInfo
  /** The generation it makes live, and the one live before (kept at keepPath). */
  generation: Generation
  from: number
  /** Where install links the old live file: it becomes a kept generation. */
  keepPath: string
  /** The manifest once the swap is done (before pruning). */
  next: Manifest
}

export interface PlanInput {
  source: GenerationSource
  bytes: number
  digest: string | null
  commit: string
  /** An undo: the kept generation whose file goes live (it leaves the kept list). */
  undoOf?: number
}

const KEPT_FILE = /^(\d+)\.sqlite3$/

export class GenerationStore {
  readonly db: DatabaseInfo
  readonly dir: string
  readonly keep: number
  #manifest: Manifest

  private constructor (db: DatabaseInfo, dir: string, keep: number, manifest: Manifest) {
    this.db = db
    this.dir = dir
    this.keep = keep
    this.#manifest = manifest
  }

  /**
   * At start-up, before any worker runs (and after recovery.ts finished an interrupted commit):
   * reads the manifest, or starts one whose generation 1 is the file found.
   */
  static openSync (db: DatabaseInfo, keep: number, log: Logger): GenerationStore {
    const dir = ensureFolder(db.path)
    const file = join(dir, MANIFEST)
    let m: Manifest | undefined
    try {
      m = readJson<Manifest>(file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot read ${file}: ${(err as Error).message}; move ${dir} away to start without the kept generations`)
      }
    }
    if (m !== undefined && (m.version !== 1 || !Array.isArray(m.generations) || typeof m.live !== 'number')) {
      throw new HotswapError('HOTSWAP_ERR_CONFIG', `${file} is not a manifest this version reads; move ${dir} away to start without the kept generations`)
    }
    const st = statSync(db.path)
    if (m === undefined) {
      m = { version: 1, database: db.path, live: 1, next: 2, generations: [found(1, st.size)] }
    }
    const store = new GenerationStore(db, dir, keep, m)
    store.#reconcileSync(st.ino, st.size, log)
    // Beyond --keep (lowered since, or a commit finished by recovery): listed no more, then removed.
    const drop = keptOf(store.#manifest).slice(keep)
    store.#manifest.generations = store.#manifest.generations.filter((g) => !drop.includes(g))
    writeJsonSync(file, store.#manifest)
    for (const g of drop) {
      rmSync(store.keptPath(g.id), { force: true })
      log.info(`removed kept generation ${g.id} of ${db.name} (--keep ${keep})`)
    }
    return store
  }

  get manifest (): Manifest {
    return this.#manifest
  }

  get live (): Generation {
    return liveOf(this.#manifest)
  }

  keptPath (id: number): string {
    return join(this.dir, keptFileName(id))
  }

  /** The kept generation `id` (not the live one), or a coded error naming what is kept. */
  kept (id: number): Generation {
    const g = keptOf(this.#manifest).find((x) => x.id === id)
    if (g !== undefined) return g
    if (id === this.#manifest.live) throw new HotswapError('HOTSWAP_ERR_UNKNOWN_GENERATION', `generation ${id} of ${this.db.name} is the live one`)
    throw new HotswapError('HOTSWAP_ERR_UNKNOWN_GENERATION', `${this.db.name} keeps no generation ${id} (kept: ${keptOf(this.#manifest).map((x) => x.id).join(', ') || 'none'})`)
  }

  plan (input: PlanInput): Planned {
    const m = this.#manifest
    const generation: Generation = {
      id: m.next,
      createdAt: new Date().toISOString(),
      source: input.source,
      bytes: input.bytes,
      digest: input.digest,
      pauseMs: null,
      commit: input.commit,
    }
    // The generation it retires is written to until the pause: its size and digest as kept are
    // not known until retired() (after the reply; never, when a crash cuts the commit short and
    // the next start finishes it from the intent, which holds this manifest). Until then it has
    // none, so an undo's size check does not compare the file with the size it went live with.
    const rest = m.generations.filter((g) => g.id !== input.undoOf).map((g) => g.id === m.live ? { ...g, digest: null } : g)
    const next: Manifest = { ...m, live: generation.id, next: generation.id + 1, liveIno: undefined, generations: [generation, ...rest] }
    return { db: this.db, generation, from: m.live, keepPath: this.keptPath(m.live), next }
  }

  /** The swap is done: `next` (with what the pause measured) is the manifest, on disk first. */
  async save (next: Manifest): Promise<void> {
    next.liveIno = (await fsp.stat(this.db.path)).ino
    await writeJson(join(this.dir, MANIFEST), next)
    this.#manifest = next
  }

  /** Records a kept generation's size and digest as retired (the app wrote to it while live). */
  async retired (id: number, bytes: number, digest: string): Promise<void> {
    const next = structuredClone(this.#manifest)
    const g = next.generations.find((x) => x.id === id)
    if (g === undefined) return // pruned meanwhile (--keep 0)
    g.bytes = bytes
    g.digest = digest
    await this.save(next)
  }

  /** Kept generations beyond --keep, oldest first out: listed no more, then removed. */
  async prune (log: Logger): Promise<number[]> {
    const drop = keptOf(this.#manifest).slice(this.keep)
    if (drop.length === 0) return []
    const ids = new Set(drop.map((g) => g.id))
    await this.save({ ...this.#manifest, generations: this.#manifest.generations.filter((g) => !ids.has(g.id)) })
    for (const g of drop) {
      await removeDurably(this.keptPath(g.id)).catch((err: Error) => log.warn(`removing kept generation ${g.id} of ${this.db.name}: ${err.message}`))
    }
    return [...ids]
  }

  /**
   * The manifest against the disk at start-up: a live file replaced while no server ran becomes
   * a new generation; a kept file that is gone is no longer listed; a file nobody lists (a swap
   * or a removal interrupted) is removed.
   */
  #reconcileSync (liveIno: number, liveSize: number, log: Logger): void {
    const m = this.#manifest
    if (m.liveIno !== undefined && m.liveIno !== liveIno) {
      log.warn(`${this.db.path} was replaced while no server ran: it is generation ${m.next}, found at start-up`)
      const gone = m.live
      m.generations = [found(m.next, liveSize), ...m.generations.filter((g) => g.id !== gone)]
      m.live = m.next
      m.next++
    }
    m.database = this.db.path
    m.liveIno = liveIno
    m.generations = m.generations.filter((g) => {
      if (g.id === m.live) return true
      try {
        return statSync(this.keptPath(g.id)).isFile()
      } catch {
        log.warn(`kept generation ${g.id} of ${this.db.name} is missing from ${this.dir}; it is no longer listed`)
        return false
      }
    })
    const listed = new Set(keptOf(m).map((g) => keptFileName(g.id)))
    for (const name of readdirSync(this.dir)) {
      const orphan = (KEPT_FILE.test(name) && !listed.has(name)) || (name.startsWith('.') && name.endsWith('.tmp'))
      if (!orphan) continue
      rmSync(join(this.dir, name), { force: true })
      log.warn(`removed ${join(this.dir, name)}: a file no manifest lists, left by an interrupted swap`)
    }
  }
}

function found (id: number, bytes: number): Generation {
  return { id, createdAt: new Date().toISOString(), source: { kind: 'existing' }, bytes, digest: null, pauseMs: null, commit: null }
}
