// Staged files: a push stopped after its checks. The validated file waits in the database's
// `.hotswap/` folder (renamed there: same filesystem) with a record of what it was checked
// against, until a commit swaps it in or an abort, its expiry or a start-up after it drops it.
//
//   cp SRC LIVE --stage ─▶ receive, validate, digest ─▶ add(): stage-ID.sqlite3 + stage-ID.json
//   commit [ID…] ─▶ take(): each still fresh and checked against the live generation ─▶ one pause
//   abort [ID…] / expiry / start-up past the expiry ─▶ drop()
//
// One stage per database at a time: a second `--stage` is refused until the first is committed
// or aborted (two operators staging the same database should find out, not overwrite).

import { randomBytes } from 'node:crypto'
import { readdirSync, rmSync, promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import { readJson, removeDurably, writeJson, type GenerationSource } from './manifest.js'
import type { GenerationStore } from './store.js'

export interface StageRecord {
  id: string
  db: string
  /** When it was staged and when it expires (epoch ms). */
  createdAt: number
  expiresAt: number
  /** The live generation its checks ran against: a commit after another swap is refused. */
  checkedAgainst: number
  source: GenerationSource
  bytes: number
  digest: string
  /** The SHA-256 of the bytes as received, before the checks set the journal mode (a sender's own digest). */
  received?: string
}

const RECORD = /^stage-([0-9a-f]{8})\.json$/
const FILE = /^stage-([0-9a-f]{8})\.sqlite3$/

export class Stages {
  readonly #stores: Map<string, GenerationStore>
  readonly #ttlMs: number
  readonly #log: Logger
  readonly #stages = new Map<string, StageRecord>()
  /** Ids that expired (and were dropped): a commit of one says "expired", not "unknown". */
  readonly #expired = new Set<string>()
  /** Ids a commit has taken and not finished with: their expiry waits for it. */
  readonly #taken = new Set<string>()

  constructor (stores: Map<string, GenerationStore>, ttlMs: number, log: Logger) {
    this.#stores = stores
    this.#ttlMs = ttlMs
    this.#log = log
  }

  /** At start-up: the stages a previous server left, the expired and the half-made ones removed. */
  loadSync (): void {
    for (const store of this.#stores.values()) {
      const names = readdirSync(store.dir)
      const files = new Set(names.filter((n) => FILE.test(n)))
      for (const name of names) {
        const id = RECORD.exec(name)?.[1]
        if (id === undefined) continue
        let rec: StageRecord | undefined
        try { rec = readJson<StageRecord>(join(store.dir, name)) } catch { rec = undefined }
        const file = `stage-${id}.sqlite3`
        if (rec === undefined || rec.id !== id || rec.db !== store.db.name || !files.has(file) || rec.expiresAt <= Date.now()) {
          rmSync(join(store.dir, name), { force: true })
          rmSync(join(store.dir, file), { force: true })
          this.#log.warn(`dropped stage ${id} of ${store.db.name}: ${rec === undefined ? 'its record is unreadable' : !files.has(file) ? 'its file is missing' : 'it expired'}`)
          continue
        }
        files.delete(file)
        this.#stages.set(id, rec)
      }
      for (const file of files) {
        rmSync(join(store.dir, file), { force: true })
        this.#log.warn(`removed ${join(store.dir, file)}: a staged file with no record`)
      }
    }
  }

  pathOf (rec: StageRecord): string {
    return join(this.#store(rec.db).dir, `stage-${rec.id}.sqlite3`)
  }

  all (): StageRecord[] {
    return [...this.#stages.values()].sort((a, b) => a.createdAt - b.createdAt)
  }

  forDatabase (name: string): StageRecord | undefined {
    return this.all().find((s) => s.db === name)
  }

  /** Refuses a second stage for one database, before anything is received. */
  checkFree (name: string): void {
    const s = this.forDatabase(name)
    if (s !== undefined) {
      throw new HotswapError('HOTSWAP_ERR_ALREADY_STAGED', `${name} already has stage ${s.id} (staged ${new Date(s.createdAt).toISOString()}); commit or abort it first`)
    }
  }

  /** Keeps a validated file as a stage of `db` and returns its record. */
  async add (db: string, tempPath: string, meta: { source: GenerationSource, bytes: number, digest: string, received?: string }): Promise<StageRecord> {
    this.checkFree(db)
    const store = this.#store(db)
    const id = randomBytes(4).toString('hex')
    const now = Date.now()
    const rec: StageRecord = { id, db, createdAt: now, expiresAt: now + this.#ttlMs, checkedAgainst: store.live.id, ...meta }
    // The file first, then its record: a crash in between leaves a file with no record (removed
    // at the next start), never a record of a file that is not there.
    await fsp.rename(tempPath, this.pathOf(rec))
    await writeJson(join(store.dir, `stage-${id}.json`), rec)
    this.#stages.set(id, rec)
    return rec
  }

  /**
   * The stages a commit names (every one when none is named), each fresh and still checked
   * against its database's live generation; or a coded error and nothing taken.
   */
  take (ids: string[]): StageRecord[] {
    this.sweep()
    const wanted = ids.length === 0 ? this.all() : ids.map((id) => this.get(id))
    if (wanted.length === 0) throw new HotswapError('HOTSWAP_ERR_UNKNOWN_STAGE', 'nothing is staged (hotswap cp SRC LIVE --stage)')
    const seen = new Set<string>()
    for (const s of wanted) {
      if (seen.has(s.db)) throw new HotswapError('HOTSWAP_ERR_USAGE', `stage ${s.id} is named twice`)
      seen.add(s.db)
      const live = this.#store(s.db).live.id
      if (live !== s.checkedAgainst) {
        throw new HotswapError('HOTSWAP_ERR_STAGE_STALE',
          `stage ${s.id} of ${s.db} was checked against generation ${s.checkedAgainst}, but generation ${live} is live now; abort it and stage again`)
      }
    }
    for (const s of wanted) this.#taken.add(s.id)
    return wanted
  }

  /** The commit that took these is over (done or refused): they may expire again. */
  release (recs: StageRecord[]): void {
    for (const r of recs) this.#taken.delete(r.id)
  }

  /** Still staged (not committed, aborted or expired meanwhile). */
  has (rec: StageRecord): boolean {
    return this.#stages.get(rec.id) === rec
  }

  get (id: string): StageRecord {
    const s = this.#stages.get(id)
    if (s !== undefined && s.expiresAt > Date.now()) return s
    if (s !== undefined || this.#expired.has(id)) {
      throw new HotswapError('HOTSWAP_ERR_STAGE_EXPIRED', `stage ${id} expired (--stage-ttl ${Math.round(this.#ttlMs / 1000)} s) and was dropped; stage it again`)
    }
    const known = this.all().map((x) => `${x.id} (${x.db})`).join(', ')
    throw new HotswapError('HOTSWAP_ERR_UNKNOWN_STAGE', `nothing is staged as ${JSON.stringify(id.slice(0, 64))} (staged: ${known === '' ? 'none' : known})`)
  }

  /** Forgets a stage whose file a commit renamed in (its record removed too). */
  async consumed (rec: StageRecord): Promise<void> {
    this.#stages.delete(rec.id)
    await removeDurably(join(this.#store(rec.db).dir, `stage-${rec.id}.json`))
  }

  /** Drops a stage: its record, then its file. */
  async drop (rec: StageRecord, why: string): Promise<void> {
    this.#stages.delete(rec.id)
    const dir = this.#store(rec.db).dir
    await removeDurably(join(dir, `stage-${rec.id}.json`))
    await fsp.rm(join(dir, `stage-${rec.id}.sqlite3`), { force: true })
    this.#log.info(`dropped stage ${rec.id} of ${rec.db} (${why})`, { event: 'stage-dropped', stage: rec.id, db: rec.db })
  }

  /** Drops the expired stages (called by a timer, and before a commit looks). */
  sweep (): void {
    for (const s of this.#stages.values()) {
      if (s.expiresAt > Date.now() || this.#taken.has(s.id)) continue
      this.#expired.add(s.id)
      this.#stages.delete(s.id)
      void this.drop(s, 'expired').catch((err: Error) => this.#log.warn(`dropping expired stage ${s.id}: ${err.message}`))
    }
  }

  #store (name: string): GenerationStore {
    const store = this.#stores.get(name)
    if (store === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `no generation store for ${name}`)
    return store
  }
}
