// `hotswap serve`: wires the supervisor, the swap coordinator, the piscina pool and the control
// server together; reloads on SIGHUP; stops them in order on SIGTERM/SIGINT.

import { closeSync, existsSync, mkdirSync, openSync, readSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, extname, resolve } from 'node:path'
import { stallPoint } from '../shared/crash-point.js'
import { ExitCodes, formatError, HotswapError } from '../shared/errors.js'
import { addTransport, configureLogger, flushLogger, getLogger, reopenLogFile } from '../shared/logger.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { VERSION } from '../shared/version.js'
import { workingDirectory } from '../shared/working-directory.js'
import { loadConfigFile, type ServeSettings } from './config.js'
import { checkNodeOptions } from './node-options.js'
import { watchForReload } from './watch.js'
import { ControlServer } from './control/server.js'
import { LogRing } from './logs/ring.js'
import { maxWorkers } from './cpu-quota.js'
import { DatabaseLocks } from './database-lock.js'
import { TaskPool } from './sqlite/pool.js'
import type { ScaleResult } from './scale.js'
import { Supervisor } from './supervisor.js'
import { Watchdog } from './watchdog.js'
import { SwapCoordinator } from './swap/coordinator.js'
import { journalModeOfHeader } from './sqlite/header.js'
import { createSpool, removeSpool } from './control/spool.js'
import { cleanupOrphans } from './sqlite/temp-files.js'
import { createEmptyDatabase } from './sqlite/create-empty.js'
import { checkDatabaseDirectory } from './sqlite/database-directory.js'
import { recoverSync } from './generations/intent.js'
import { Stages } from './generations/stages.js'
import { GenerationStore } from './generations/store.js'
import type { HotswapMetrics } from './metrics/hotswap-metrics.js'
import type { MetricsServer } from './metrics/server.js'

/** How long a shutdown waits for the commands still running to send their replies. */
const REPLY_GRACE_MS = 5000

/**
 * `--db [NAME=]PATH`: the name defaults to the file name without its extension. With `create`
 * (`--create`) a missing file is made an empty WAL database first.
 */
export function parseDatabases (specs: string[], cwd = process.cwd(), create = false): DatabaseInfo[] {
  if (specs.length === 0) throw new HotswapError('HOTSWAP_ERR_CONFIG', 'at least one --db [NAME=]PATH is required')
  const out: DatabaseInfo[] = []
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const hasName = eq > 0 && !spec.slice(0, eq).includes('/')
    const rawPath = hasName ? spec.slice(eq + 1) : spec
    const abs = resolve(cwd, rawPath)
    if (!existsSync(abs)) {
      if (!create) throw new HotswapError('HOTSWAP_ERR_CONFIG', `database file not found: ${abs} (pass --create to start on an empty database)`)
      createMissing(abs)
    }
    // Symlinks are resolved once: the swap renames over the target, and the link stays.
    const path = realpathSync(abs)
    if (!statSync(path).isFile()) throw new HotswapError('HOTSWAP_ERR_CONFIG', `database path is not a file: ${abs}`)
    const name = hasName ? spec.slice(0, eq) : basename(abs, extname(abs))
    if (out.some((d) => d.name === name)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `two databases are named "${name}"; name them with --db NAME=PATH`)
    if (out.some((d) => d.path === path)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `${path} is given twice`)
    out.push({ name, path })
  }
  return out
}

/** --create: `abs` as an empty database, or a start-up error naming it and why not. */
function createMissing (abs: string): void {
  const dir = dirname(abs)
  if (!existsSync(dir)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create the database ${abs}: its directory ${dir} does not exist`)
  try {
    createEmptyDatabase(abs)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create the database ${abs}: ${(err as Error).message}`)
  }
  // Made meanwhile by someone else (then it is used as found), or a link to nowhere.
  if (!existsSync(abs)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create the database ${abs}: it is a symbolic link to a file that does not exist`)
  getLogger('primary').info(`created an empty database (WAL journal mode) at ${abs}`)
}

/**
 * The journal mode the header records. Read once at start-up, before this process holds any
 * SQLite connection: opening and closing a live file with fs in a process that has connections
 * to it would drop that process's POSIX locks.
 */
function journalModeOf (path: string): string {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(20)
    return journalModeOfHeader(head.subarray(0, readSync(fd, head, 0, 20, 0)))
  } finally {
    closeSync(fd)
  }
}

/**
 * The log file can be appended to. winston reports a file it cannot open (a directory, no
 * permission) as an event nobody listens to: the logs went nowhere without a word.
 */
function checkLogFile (file: string): void {
  let isDirectory = false
  try {
    isDirectory = statSync(file).isDirectory()
  } catch { /* does not exist yet: created below */ }
  if (isDirectory) throw new HotswapError('HOTSWAP_ERR_CONFIG', `the log file ${file} is a directory (--log-file, HOTSWAP_LOG_FILE or "logFile" must name a file)`)
  try {
    mkdirSync(dirname(file), { recursive: true })
    closeSync(openSync(file, 'a'))
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `the log file ${file} cannot be written: ${(err as Error).message}`)
  }
}

export async function serve (opts: ServeSettings): Promise<number> {
  if (opts.logFile !== undefined && opts.logFile !== '') checkLogFile(resolve(opts.logFile))
  else if (opts.logMaxSize !== undefined) throw new HotswapError('HOTSWAP_ERR_CONFIG', '--log-max-size rotates the --log-file, and there is none (give --log-file PATH, HOTSWAP_LOG_FILE or "logFile")')
  if (opts.logMaxFiles !== undefined && opts.logMaxSize === undefined) throw new HotswapError('HOTSWAP_ERR_CONFIG', '--log-max-files is how many files the rotation keeps, and --log-max-size is not given (no rotation)')
  configureLogger({ format: opts.logFormat, level: opts.logLevel, file: opts.logFile, maxSize: opts.logMaxSize, maxFiles: opts.logMaxFiles })
  // The recent records, for `hotswap logs` and `monit`.
  const logRing = new LogRing()
  addTransport(logRing)
  const log = getLogger('primary')
  // SIGHUP and SIGUSR2 end a process by default: one sent while it starts (a `systemctl reload`
  // right after the start, logrotate's postrotate) would take the primary down. Caught from
  // here on: the log file is reopened at once, a reload waits until the workers are started.
  let reloadAsked = false
  const early = {
    SIGHUP: (): void => {
      reloadAsked = true
      log.info('SIGHUP while starting: the workers are reloaded once they are started', { event: 'reload-deferred' })
    },
    SIGUSR2: (): void => {
      const file = reopenLogFile()
      log.info(file === null ? 'SIGUSR2: no --log-file to reopen' : `SIGUSR2: reopened the log file ${file}`, { event: 'log-reopen' })
    },
  }
  process.on('SIGHUP', early.SIGHUP)
  process.on('SIGUSR2', early.SIGUSR2)
  await stallPoint('serve-starting')
  // The app path is kept as given, symlinks and all (/srv/app/current/app.js): every fork
  // resolves it afresh, so a reload after a symlink-switch deploy runs the new release.
  const cwd = workingDirectory()
  const app = resolve(cwd, opts.app)
  if (!existsSync(app) || !statSync(app).isFile()) throw new HotswapError('HOTSWAP_ERR_CONFIG', `app file not found: ${app}`)
  const databases = parseDatabases(opts.databases, process.cwd(), opts.create)
  const workers = opts.workers === 'max' ? maxWorkers() : opts.workers
  if (!Number.isInteger(workers) || workers < 1) throw new HotswapError('HOTSWAP_ERR_CONFIG', `--workers must be a positive integer or "max" (got ${String(opts.workers)})`)
  if (opts.minReady !== undefined && opts.minReady > workers) throw new HotswapError('HOTSWAP_ERR_CONFIG', `--min-ready ${opts.minReady} is more than the ${workers} worker(s): /readyz would never answer 200`)

  checkNodeOptions(opts.nodeOptions)

  const journalModes = new Map<string, string>()
  for (const db of databases) {
    // At start-up, not at the first push (or the workers' first write).
    checkDatabaseDirectory(db.path, `cannot serve ${db.path}`)
    journalModes.set(db.name, journalModeOf(db.path))
  }

  // Snapshots being streamed wait here, not beside the live files (src/primary/control/spool.ts).
  const spool = createSpool(opts.spool)
  process.on('exit', () => { removeSpool(spool.dir) })
  const pool = new TaskPool()
  const supervisor = new Supervisor({
    app,
    cwd,
    workers,
    port: opts.port,
    databases,
    env: opts.env,
    args: opts.appArgs,
    nodeOptions: opts.nodeOptions,
    logger: getLogger('supervisor'),
    minUptimeMs: opts.minUptimeMs,
    maxRestarts: opts.maxRestarts,
    waitReady: opts.waitReady,
    listenTimeoutMs: opts.listenTimeoutMs,
    killTimeoutMs: opts.killTimeoutMs,
  })
  const stores = new Map<string, GenerationStore>()
  const stages = new Stages(stores, opts.stageTtlMs, getLogger('swap'))
  // --metrics: hotswap's own metrics observe the swaps and pushes from the start. Loaded only
  // then: prom-client takes 50-300 ms to import.
  const metrics: HotswapMetrics | undefined = opts.metrics === undefined
    ? undefined
    : new (await import('./metrics/hotswap-metrics.js')).HotswapMetrics({ supervisor, databases, stores, sqliteVersion: async () => await pool.run('sqliteVersion', {}), desiredWorkers: () => supervisor.slots.wanted })
  const coordinator = new SwapCoordinator({ supervisor, pool, logger: getLogger('swap'), drainTimeoutMs: opts.drainTimeoutMs, drainWarningMs: opts.drainWarningMs, stores, stages, observer: metrics })
  // A reload forks the workers on the config file's environment as it is now (env, and
  // env_NAME for --env NAME): a file that no longer reads stops the reload before any fork.
  const rereadEnvironment = async (): Promise<void> => {
    if (opts.configFile === undefined) return
    const fresh = await loadConfigFile(cwd, opts.configFile, opts.envName, true)
    const env = fresh.env ?? {}
    const before = supervisor.env
    const names = [...new Set([...Object.keys(before), ...Object.keys(env)])].filter((k) => before[k] !== env[k])
    // Names only: values are often secrets.
    if (names.length > 0) log.info(`reload: the environment from ${opts.configFile} changed: ${names.join(', ')}`, { event: 'env-changed', names })
    supervisor.setEnv(env)
  }
  const reload = async (parallel: number): Promise<{ replaced: number, revived: number, ms: number }> => {
    const { value } = await coordinator.withLock('reload', async () => {
      const started = performance.now()
      await rereadEnvironment()
      log.info(`reload: rolling ${supervisor.live().length} worker(s), ${parallel} at a time`)
      const r = await supervisor.reload(parallel)
      const ms = performance.now() - started
      log.info(`reload complete: ${r.replaced} worker(s) replaced${r.revived > 0 ? `, ${r.revived} given-up slot(s) started again` : ''} in ${ms.toFixed(0)} ms`)
      return { ...r, ms }
    })
    return value
  }
  // Scale, reloads and swaps never overlap: each takes the swap lock.
  const scale = async (n: number): Promise<ScaleResult> => (await coordinator.withLock('scale', async () => await supervisor.scale(n))).value
  const watchdog = new Watchdog(supervisor, {
    intervalMs: opts.healthIntervalMs,
    timeoutMs: opts.healthTimeoutMs,
    threshold: opts.healthThreshold,
    ...(opts.healthCheck === undefined ? {} : { healthCheck: opts.healthCheck }),
    ...(opts.maxMemory === undefined ? {} : { maxMemory: opts.maxMemory }),
  })
  // `hotswap stop`: answered once the shutdown it asked for is done (see the end of stop() below).
  let requestStop = (_why: string, _code: number): void => {}
  const stopWaiters: Array<() => void> = []
  const control = new ControlServer({
    socketPath: opts.socket,
    logger: getLogger('control'),
    idleTimeoutMs: opts.idleTimeoutMs,
    context: {
      databases,
      coordinator,
      pool,
      supervisor,
      logger: getLogger('swap'),
      socketPath: opts.socket,
      startedAt: Date.now(),
      maxBytes: opts.maxBytes,
      spoolDir: spool.dir,
      journalModes,
      killTimeoutMs: opts.killTimeoutMs,
      logs: logRing,
      reload,
      uploads: metrics,
      scale,
      stop: async () => {
        const stopped = new Promise<void>((resolve) => stopWaiters.push(resolve))
        requestStop('hotswap stop', ExitCodes.ok)
        await stopped
      },
    },
  })
  try {
    await control.listen()
  } catch (err) {
    await pool.close()
    throw err
  }
  // One primary per database: another one's uploads in progress are not orphans. Taken once the
  // socket is ours (a live socket is the first thing to report), before any command is read
  // (this runs before the event loop turns again).
  let locks: DatabaseLocks
  try {
    locks = DatabaseLocks.acquire(databases)
  } catch (err) {
    control.stopAccepting()
    await pool.close()
    throw err
  }
  // Only once this server owns the socket and every database's lock are the files beside the
  // databases orphans: a serve refused for either must not delete another server's uploads.
  // A commit a killed primary left half done is finished or undone first (all old or all new),
  // from its intent record: its upload may be one of the temp files removed just below.
  try {
    recoverSync(databases, getLogger('swap'))
    for (const db of databases) stores.set(db.name, GenerationStore.openSync(db, opts.keep, getLogger('swap')))
    stages.loadSync()
  } catch (err) {
    control.stopAccepting()
    locks.release()
    await pool.close()
    throw err
  }
  for (const db of databases) {
    const removed = cleanupOrphans(db.path)
    if (removed.length > 0) log.warn(`removed ${removed.length} file(s) left by an interrupted swap beside ${db.path}: ${removed.join(', ')}`)
  }
  // Before the workers start: /readyz says 503 while they do.
  const metricsServer: MetricsServer | undefined = opts.metrics === undefined || metrics === undefined
    ? undefined
    : new (await import('./metrics/server.js')).MetricsServer({ address: opts.metrics, metrics, supervisor, minReady: () => Math.min(opts.minReady ?? supervisor.slots.wanted, supervisor.slots.wanted), logger: getLogger('metrics') })
  try {
    await metricsServer?.listen()
  } catch (err) {
    control.stopAccepting()
    locks.release()
    await pool.close()
    throw err
  }
  process.on('exit', () => { metricsServer?.removeSocket() })
  const sweep = setInterval(() => { stages.sweep() }, Math.min(60_000, opts.stageTtlMs))
  sweep.unref()
  if (spool.removed.length > 0) log.warn(`removed the spool of ${spool.removed.length} primary process(es) that were killed: ${spool.removed.join(', ')}`)
  process.on('exit', () => { control.stopAccepting() })
  log.info(`hotswap ${VERSION} serving ${app} with ${workers} worker(s)`, {
    pid: process.pid, databases: databases.map((d) => `${d.name}=${d.path}`), socket: opts.socket, port: opts.port ?? null,
  })
  supervisor.start()
  watchdog.start()
  const stopWatching = opts.watch
    ? watchForReload({ app, databases, own: [opts.socket, opts.logFile, spool.dir], logger: getLogger('watch'), reload: async () => await reload(1) })
    : undefined

  return await new Promise<number>((resolveExit) => {
    let stopping = false
    const stop = (why: string, code: number): void => {
      if (stopping) {
        log.warn(`${why} again: stopping at once`)
        for (const w of supervisor.all()) w.worker.process.kill('SIGKILL')
        resolveExit(ExitCodes.failure)
        return
      }
      stopping = true
      log.info(`${why}: shutting down`)
      metricsServer?.shuttingDown()
      void (async () => {
        control.stopAccepting()
        await stopWatching?.()
        // A swap or reload in progress finishes first: taking the lock waits for it. Its reply
        // (OK and the exit frame) then gets out before the connections close.
        await coordinator.withLock('shutdown', async () => {
          await control.closeConnections(REPLY_GRACE_MS, 'stop')
          watchdog.stop()
          await supervisor.stop(opts.killTimeoutMs)
        })
        await metricsServer?.close()
        await pool.close()
        locks.release()
        log.info('stopped')
        if (stopWaiters.length > 0) {
          // Everything but the exit is done: `hotswap stop` prints OK now, and returns.
          await flushLogger()
          for (const done of stopWaiters.splice(0)) done()
          await control.closeConnections(REPLY_GRACE_MS)
        }
        resolveExit(code)
      })()
    }
    requestStop = stop
    process.on('SIGTERM', () => stop('SIGTERM', ExitCodes.ok))
    process.on('SIGINT', () => stop('SIGINT', ExitCodes.ok))
    // SIGHUP reloads from here on, in place of the start's handler (SIGUSR2's, logrotate's
    // postrotate, stays as it was set at the start); one caught while starting is done now.
    const hup = (): void => {
      reload(1).catch((err: Error) => log.error(`SIGHUP reload failed: ${err.message}`))
    }
    process.off('SIGHUP', early.SIGHUP)
    process.on('SIGHUP', hup)
    if (reloadAsked) {
      // Once every slot's worker has answered (a reload now would roll none), or after a minute.
      const since = Date.now()
      const wait = setInterval(() => {
        if (stopping) { clearInterval(wait); return }
        if (supervisor.live().length < supervisor.slots.wanted && Date.now() - since < 60_000) return
        clearInterval(wait)
        hup()
      }, 50)
    }
    supervisor.on('fatal', (err: Error) => {
      log.error(err.message)
      process.stderr.write(formatError(new HotswapError('HOTSWAP_ERR_CONFIG', err.message)))
      stop('every worker failed', ExitCodes.failure)
    })
  }).then(async (code) => {
    await flushLogger()
    return code
  })
}
