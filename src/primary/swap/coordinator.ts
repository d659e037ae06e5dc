// The swap coordinator: one commit at a time, in three phases, with the heavy work before the
// pause so the pause does not grow with the database. A commit changes one database (a push,
// an undo) or several at once (a commit of stages), all in the same pause.
//
//   validated files ─▶ lock ─▶ fresh? outside holders? ─▶ plan (ids, keep paths) ─▶ INTENT
//        ─▶ (a held commit with --ready: READY, then wait for its start, see #started)
//        ─▶ PAUSE every worker on every database of the set (drain, close, ack)
//        ─▶ (a held commit: quiesce the live files, then wait for the go, see #held)
//        ─▶ INSTALL the set in piscina (every file checkpointed first, so one refusal changes
//           nothing; then -wal/-shm removed, old files linked as kept, renames, dirs fsynced)
//        ─▶ RESUME every worker (reopen, release queue, ack) ─▶ manifests saved ─▶ intent gone
//        ─▶ beyond --keep removed ─▶ unlock ─▶ OK ─▶ (after the reply) retired files' digests
//
// The checks once the lock is held (still valid, owner and mode, outside holders) are preflight.ts.
// Any failure before the last rename resumes everyone on the old files and changes nothing;
// a crash anywhere is finished or undone at the next start from the intent (generations/intent.ts).
// A worker whose resume fails is replaced (rolling, graceful), and the commit reports it.

import { randomBytes } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import { crashPoint } from '../../shared/crash-point.js'
import { atInstant, epochOf } from '../../shared/instant.js'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo, PauseValue } from '../../shared/messages.js'
import { removeIntent, writeIntent, type Intent } from '../generations/intent.js'
import { describeSource, type GenerationSource } from '../generations/manifest.js'
import type { StageRecord, Stages } from '../generations/stages.js'
import type { GenerationStore, Planned } from '../generations/store.js'
import type { TaskPool } from '../sqlite/pool.js'
import type { ManagedWorker } from '../managed-worker.js'
import type { Supervisor } from '../supervisor.js'
import { SwapLock } from './lock.js'
import { pauseAll, resumeAll, type FailedWorker } from './pause.js'
import { preflight, refuseOutsideHolders } from './preflight.js'

export interface CommitItem {
  db: DatabaseInfo
  /** The validated, fsynced file to rename in: an upload, a stage, a kept generation (undo). */
  newPath: string
  source: GenerationSource
  bytes: number
  digest: string | null
  /** A stage: committed only while the generation its checks ran against is live. */
  stage?: StageRecord
  /** An undo: the kept generation whose file goes live, and the live one it undoes. */
  undoOf?: number
  undoFrom?: number
}

export interface CommitRequest {
  kind: Intent['kind']
  items: CommitItem[]
  force: boolean
  /** True when the client went away; checked before the pause. */
  isCancelled: () => boolean
  /**
   * Held between the pause and the install (a fleet's host: every host pauses, then all
   * install): `paused` is called once every worker acked, and the install waits for `go`. Not
   * told to go within `timeoutMs` (its coordinator vanished), the commit is abandoned: every
   * worker resumes on the old files, nothing changed.
   */
  hold?: {
    /**
     * A held commit that waits for its start (`--ready`): once the lock is held, the checks done
     * and the intent written, `ready` is called (with how long the outside-holder scan took) and
     * the pause waits for `start`. Told to start, it scans for outside holders again (one may
     * have opened a live file while every host got ready) while it waits for the instant. Not
     * started within `timeoutMs`, `start` false, or an outside holder: the intent is removed,
     * nothing was paused.
     */
    ready?: (info: { scanMs: number }) => Promise<void>
    /** The start line: at once, or at `at` (ms since the epoch, this host's clock); false: not started. */
    start?: Promise<{ at?: number } | false>
    paused: () => Promise<void>
    go: Promise<boolean>
    timeoutMs: number
  }
}

export interface SwappedDatabase {
  name: string
  path: string
  /** The generation live before, and the one live now. */
  from: number
  to: number
}

export interface CommitReport {
  /** The commit's id (the manifests record it: `undo` without a name undoes the last one). */
  commit: string
  databases: SwappedDatabase[]
  pauseMs: number
  drainMs: number
  /** The slowest worker's hooks + connection close (a full page cache takes longest to free). */
  closeMs: number
  installMs: number
  resumeMs: number
  /**
   * When the install started (a held commit: its go arrived) and when the last worker resumed,
   * in ms since the epoch (this host's clock, to the microsecond): a fleet's skew is measured
   * from the hosts' own resume times.
   */
  goAt: number
  resumedAt: number
  workers: number
  released: number
  lockWaitMs: number
  /**
   * Workers whose resume failed after the new files went live (an onResume hook threw, or a
   * reopen failed): each is being replaced, one at a time. Non-empty means the commit happened
   * but is not clean: reported as HOTSWAP_ERR_WORKER_FAILED.
   */
  failedWorkers: FailedWorker[]
}

export interface DatabaseHistory {
  swaps: number
  lastSwapAt: number | null
  lastPauseMs: number | null
  /** The last swaps' pause windows (ms), oldest first, at most PAUSES_KEPT (monit's sparkline). */
  pauses: number[]
}

/** Told how each commit ended (primary/metrics/): its report, or what it failed with. */
export interface CommitObserver {
  committed: (req: CommitRequest, report: CommitReport) => void
  failed: (req: CommitRequest, err: unknown) => void
}

/** How many pause windows a database's history keeps. */
export const PAUSES_KEPT = 30

export interface CoordinatorOptions {
  supervisor: Supervisor
  pool: TaskPool
  logger: Logger
  drainTimeoutMs: number
  /** A drain still waiting after this long logs a warning naming the requests (--drain-warning). */
  drainWarningMs?: number
  stores: Map<string, GenerationStore>
  stages: Stages
  observer?: CommitObserver
}

export class SwapCoordinator {
  readonly #opts: CoordinatorOptions
  readonly #lock: SwapLock
  readonly history = new Map<string, DatabaseHistory>()

  constructor (opts: CoordinatorOptions) {
    this.#opts = opts
    this.#lock = new SwapLock(opts.logger)
  }

  get busy (): boolean {
    return this.#lock.held
  }

  get stores (): Map<string, GenerationStore> {
    return this.#opts.stores
  }

  get stages (): Stages {
    return this.#opts.stages
  }

  /**
   * Runs `fn` holding the swap lock (pulls take it too, so no swap renames under them).
   * Deliberately not async: its caller resumes as soon as SwapLock's own promise settles. Each
   * async layer between the release and the caller costs microtask turns, and with one more the
   * next waiter logged "lock taken" before the push it waited for logged "complete".
   */
  withLock<T> (label: string, fn: () => Promise<T>): Promise<{ value: T, waitMs: number }> {
    return this.#lock.withLock(label, fn)
  }

  /** Swaps every item in one pause, all or none. */
  async commit (req: CommitRequest): Promise<CommitReport> {
    const names = req.items.map((i) => i.db.name).join(', ')
    let locked: { value: CommitReport, waitMs: number }
    try {
      locked = await this.withLock(req.kind === 'push' ? `push to ${names}` : `${req.kind} of ${names}`, async () => await this.#commit(req))
    } catch (err) {
      this.#opts.observer?.failed(req, err)
      throw err
    }
    const { value, waitMs } = locked
    value.lockWaitMs = waitMs
    this.#opts.observer?.committed(req, value)
    // The retired files' digests (a read of each, off the pause and after the reply): the
    // manifest lists them at once, with the digest filled in when known.
    void this.withLock(`digests after ${value.commit}`, async () => { await this.#digestRetired(value) })
      .catch((err: Error) => this.#opts.logger.warn(`digest of a retired generation: ${err.message}`))
    return value
  }

  async #commit (req: CommitRequest): Promise<CommitReport> {
    const { supervisor, pool, logger: log } = this.#opts
    const dbs = req.items.map((i) => i.db)
    const names = dbs.map((d) => d.name)
    // The structured fields of the swap's records (besides each sentence), for log aggregators.
    const db = names.join(',')
    log.info(`lock taken for ${names.join(', ')}`, { event: 'swap-lock', db, kind: req.kind })
    if (req.isCancelled()) {
      throw new HotswapError('HOTSWAP_ERR_ABORTED', 'the client disconnected before the swap; nothing was changed')
    }
    const { scanMs } = await preflight(this.#opts, req)

    const commit = randomBytes(6).toString('hex')
    const plans: Planned[] = req.items.map((item) => this.#store(item.db).plan({
      source: item.source, bytes: item.bytes, digest: item.digest, commit, undoOf: item.undoOf,
    }))
    const intent: Intent = {
      version: 1,
      id: commit,
      kind: req.kind,
      createdAt: new Date().toISOString(),
      items: await Promise.all(req.items.map(async (item, i) => {
        const plan = plans[i] as Planned
        return {
          db: item.db.name,
          livePath: item.db.path,
          newPath: item.newPath,
          newIno: (await fsp.stat(item.newPath)).ino,
          oldIno: (await fsp.stat(item.db.path)).ino,
          keepPath: plan.keepPath,
          manifest: plan.next,
          stageRecord: item.stage === undefined ? null : `${this.#store(item.db).dir}/stage-${item.stage.id}.json`,
        }
      })),
    }
    crashPoint('before-intent')
    await writeIntent(intent)
    crashPoint('after-intent')
    if (req.hold?.start !== undefined) await this.#started(req.hold, intent, dbs, req.force, scanMs)

    const targets = supervisor.live()
    supervisor.holdHellos()
    const t0 = performance.now()
    let pauseValues: PauseValue[]
    try {
      pauseValues = await pauseAll(this.#opts, targets, dbs, req.force)
    } catch (err) {
      await this.#abandon(err, intent, targets, dbs)
      log.warn(`${req.kind} of ${names.join(', ')} aborted during the pause after ${(performance.now() - t0).toFixed(1)} ms; every worker resumed on the old file(s)`,
        { event: 'swap-aborted', db, kind: req.kind, pauseMs: round(performance.now() - t0), reason: (err as Error).message })
      throw err
    }
    crashPoint('paused')
    const tPaused = performance.now()
    let tHeld: number | undefined
    // A held commit empties the live files' WALs before it waits: at the go (the fleet's skew)
    // the install has only its links, renames and directory fsync left.
    let quiesced: boolean[] | undefined
    if (req.hold !== undefined) {
      try {
        const q = await pool.run('quiesceSet', { livePaths: dbs.map((d) => d.path), force: req.force, busyTimeoutMs: 50 }, 'swap')
        quiesced = q.quiesced
      } catch (err) {
        await this.#abandon(err, intent, targets, dbs)
        log.warn(`held ${req.kind} of ${names.join(', ')} refused before its hold; every worker resumed on the old file(s)`)
        throw err
      }
      tHeld = performance.now()
      await this.#held(req.hold, intent, targets, dbs)
    }
    const t1 = performance.now()
    const goAt = epochOf(t1)
    // Nothing is logged at info level inside the window: a log line is a synchronous write to a
    // pipe (~0.3 ms each, and it blocks when the reader is slow). The debug lines mark the steps
    // for whoever wants them, at that cost.
    const trace = log.isLevelEnabled('debug')
    if (trace) log.debug(`paused ${targets.length} worker(s) in ${(t1 - t0).toFixed(2)} ms`)

    const oldLinks: string[] = []
    let timings: Record<string, number> = {}
    let installStartedAt: number | null = null
    try {
      // On the swap's own thread: inside the pause nothing waits behind other pushes' checks.
      // One task for the set: every file quiesced before any moves (a refusal changes nothing),
      // then the renames, then each directory fsynced once.
      const r = await pool.run('installSet', {
        items: req.items.map((item, i) => ({ tempPath: item.newPath, livePath: item.db.path, keepPath: (plans[i] as Planned).keepPath })),
        force: req.force,
        busyTimeoutMs: 50,
        ...(quiesced === undefined ? {} : { quiesced }),
      }, 'swap')
      for (const [i, x] of r.installed.entries()) {
        const plan = plans[i] as Planned
        if (x.oldLinkPath !== null) oldLinks.push(x.oldLinkPath)
        // The link into .hotswap/ failed (a filesystem without hard links): not kept, not listed.
        if (!x.kept) plan.next.generations = plan.next.generations.filter((g) => g.id !== plan.from)
      }
      timings = r.timings
      installStartedAt = r.startedAt
      if (trace) log.debug(`renamed into ${dbs.map((d) => d.path).join(', ')}`, { timings: r.timings })
    } catch (err) {
      await this.#abandon(err, intent, targets, dbs)
      log.warn(`install into ${names.join(', ')} refused; every worker resumed on the old file(s)`, { event: 'install-refused', db, kind: req.kind, reason: (err as Error).message })
      throw err
    }
    const t2 = performance.now()
    const { values: resumed, failed } = await resumeAll(this.#opts, targets, dbs)
    const t3 = performance.now()
    supervisor.releaseHellos()
    crashPoint('resumed')
    const resumedAt = epochOf(t3)

    const pauseMs = round(t3 - t0)
    for (const plan of plans) {
      const g = plan.next.generations.find((x) => x.id === plan.generation.id)
      if (g !== undefined) Object.assign(g, { pauseMs, resumedAt: round(resumedAt), goToResumeMs: round(t3 - t1) })
      await this.#store(plan.db).save(plan.next)
    }
    crashPoint('saved')
    for (const item of req.items) {
      if (item.stage !== undefined) await this.#opts.stages.consumed(item.stage)
    }
    await removeIntent(intent)

    const released = resumed.reduce((n, r) => n + r.released, 0)
    const report: CommitReport = {
      commit,
      databases: plans.map((p) => ({ name: p.db.name, path: p.db.path, from: p.from, to: p.generation.id })),
      pauseMs: t3 - t0,
      drainMs: Math.max(0, ...pauseValues.map((p) => p.drainMs)),
      closeMs: Math.max(0, ...pauseValues.map((p) => p.closeMs)),
      installMs: t2 - t1,
      resumeMs: t3 - t2,
      goAt,
      resumedAt,
      workers: targets.length,
      released,
      lockWaitMs: 0,
      failedWorkers: failed,
    }
    log.info(`resumed ${targets.length - failed.length} worker(s) in ${report.resumeMs.toFixed(2)} ms; ${released} queued request(s) released`,
      { event: 'resumed', db, workers: targets.length - failed.length, resumeMs: round(report.resumeMs), released })
    if (failed.length > 0) {
      log.error(`${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} live on the new file(s), but ${failed.length} worker(s) failed to resume and are being replaced one at a time: ` +
        failed.map((f) => `worker ${f.id} (pid ${f.pid}): ${f.error}`).join('; '), { event: 'resume-failed', db, failed })
    }
    log.info(`pause window ${report.pauseMs.toFixed(2)} ms for ${names.join(', ')}`, {
      event: 'pause-window', db, kind: req.kind, commit, workers: targets.length,
      pauseMs: round(report.pauseMs), drainMs: round(report.drainMs), closeMs: round(report.closeMs), installMs: round(report.installMs), resumeMs: round(report.resumeMs),
      timings, installStartedAt, goAt: round(goAt), resumedAt: round(resumedAt),
      // Its steps (ms since the epoch): every worker paused, and a held commit's PAUSED told.
      pausedAt: round(epochOf(tPaused)), ...(tHeld === undefined ? {} : { heldAt: round(epochOf(tHeld)) }),
    })
    log.info(`${req.kind} ${commit}: ${report.databases.map((d, i) => `${d.name} generation ${d.from} → ${d.to} (${describeSource((plans[i] as Planned).generation.source)})`).join(', ')}`, {
      event: req.kind, db, commit, databases: report.databases, pauseMs: round(report.pauseMs),
    })
    for (const d of report.databases) {
      const h = this.history.get(d.name) ?? { swaps: 0, lastSwapAt: null, lastPauseMs: null, pauses: [] }
      h.swaps++
      h.lastSwapAt = Date.now()
      h.lastPauseMs = round(report.pauseMs)
      h.pauses = [...h.pauses, h.lastPauseMs].slice(-PAUSES_KEPT)
      this.history.set(d.name, h)
    }

    // Freeing a file's blocks is slow for a large file; it happens here, after the pause (the
    // workers never wait for it), and before the commit is answered: once OK is printed what is
    // beside the database is the final state (the kept generations the manifest lists, no
    // more), so a script that lists the folder or checks the free space right after sees it.
    for (const link of oldLinks) {
      await fsp.rm(link, { force: true }).catch((err: Error) => log.warn(`removing ${link}: ${err.message}`))
    }
    for (const plan of plans) {
      const gone = await this.#store(plan.db).prune(log)
      if (gone.length > 0) log.info(`removed kept generation(s) ${gone.join(', ')} of ${plan.db.name} (--keep ${this.#store(plan.db).keep})`)
    }
    return report
  }

  /**
   * A held commit's wait for its start, before any pause: the outside-holder scan again, and the
   * instant named. Not started, or a holder found: the intent goes and nothing was paused.
   */
  async #started (hold: NonNullable<CommitRequest['hold']>, intent: Intent, dbs: DatabaseInfo[], force: boolean, scanMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let started: { at?: number } | false
    try {
      started = await (async () => {
        await hold.ready?.({ scanMs })
        return await Promise.race([hold.start as Promise<{ at?: number } | false>, new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), hold.timeoutMs) })])
      })().catch(() => false as const).finally(() => clearTimeout(timer))
      if (started !== false) {
        await Promise.all([refuseOutsideHolders(this.#opts, dbs, force), started.at === undefined ? undefined : atInstant(started.at, hold.timeoutMs)])
      }
    } catch (err) {
      await removeIntent(intent)
      throw err
    }
    if (started !== false) return
    await removeIntent(intent)
    const err = new HotswapError('HOTSWAP_ERR_ABORTED',
      `the held ${intent.kind} of ${dbs.map((d) => d.name).join(', ')} was ready and not told to start (told to abort, its input ended, or ${hold.timeoutMs} ms passed); nothing was paused or changed${intent.kind === 'commit' ? ', the stage stays' : ''}`)
    this.#opts.logger.warn(err.message, { event: 'hold-abandoned', commit: intent.id })
    throw err
  }

  /** Waits for the go of a held commit; abandons it (resumed, unchanged) without one. */
  async #held (hold: NonNullable<CommitRequest['hold']>, intent: Intent, targets: ManagedWorker[], dbs: DatabaseInfo[]): Promise<void> {
    const log = this.#opts.logger
    let timer: NodeJS.Timeout | undefined
    const go = await (async () => {
      await hold.paused()
      this.#opts.logger.info(`held paused: ${dbs.map((d) => d.name).join(', ')} waits up to ${hold.timeoutMs} ms for the go`, { event: 'held', commit: intent.id })
      return await Promise.race([hold.go, new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), hold.timeoutMs) })])
    })().catch(() => false).finally(() => clearTimeout(timer))
    if (go) return
    const err = new HotswapError('HOTSWAP_ERR_ABORTED',
      `the commit of ${dbs.map((d) => d.name).join(', ')} was held paused and not told to go (told to abort, its input ended, or ${hold.timeoutMs} ms passed); every worker resumed on the old files, nothing was changed`)
    await this.#abandon(err, intent, targets, dbs)
    log.warn(err.message, { event: 'hold-abandoned', commit: intent.id })
    throw err
  }

  /** A commit given up before any rename: every worker resumed on the old files, no intent left. */
  async #abandon (err: unknown, intent: Intent, targets: ManagedWorker[], dbs: DatabaseInfo[]): Promise<void> {
    await resumeAll(this.#opts, targets, dbs, err)
    this.#opts.supervisor.releaseHellos()
    await removeIntent(intent)
  }

  /** Each retired generation's size and digest as kept (the app wrote to it while it was live). */
  async #digestRetired (report: CommitReport): Promise<void> {
    for (const d of report.databases) {
      const store = this.#opts.stores.get(d.name)
      if (store === undefined || !store.manifest.generations.some((g) => g.id === d.from && g.id !== store.manifest.live)) continue
      const r = await this.#opts.pool.run('digest', { path: store.keptPath(d.from) })
      await store.retired(d.from, r.bytes, r.digest)
    }
  }

  #store (db: DatabaseInfo): GenerationStore {
    const store = this.#opts.stores.get(db.name)
    if (store === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `no generation store for ${db.name}`)
    return store
  }
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}
