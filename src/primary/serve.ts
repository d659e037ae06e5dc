// `hotswap serve`: wires the supervisor, the swap coordinator, the piscina pool and the control
// server together, and stops them in order on SIGTERM/SIGINT.

import { availableParallelism } from 'node:os'
import { existsSync, realpathSync, statSync } from 'node:fs'
import { basename, extname, resolve } from 'node:path'
import { HotswapError } from '../shared/errors.js'
import { flushLogger, getLogger } from '../shared/logger.js'
import type { DatabaseInfo } from '../shared/messages.js'
import { VERSION } from '../shared/version.js'
import { ControlServer } from './control-server.js'
import { TaskPool } from './pool.js'
import { Supervisor } from './supervisor.js'
import { SwapCoordinator } from './swap-coordinator.js'
import { cleanupOrphans } from './temp-files.js'

export interface ServeOptions {
  app: string
  workers: number | 'max'
  databases: string[]
  socket: string
  port?: number
  drainTimeoutMs: number
  killTimeoutMs: number
  maxBytes: number
  idleTimeoutMs: number
}

export function defaultSocketPath (cwd = process.cwd()): string {
  return process.env.HOTSWAP_SOCKET !== undefined && process.env.HOTSWAP_SOCKET !== ''
    ? resolve(cwd, process.env.HOTSWAP_SOCKET)
    : resolve(cwd, 'tmp/sockets/hotswap.sock')
}

/** `--db [NAME=]PATH`: the name defaults to the file name without its extension. */
export function parseDatabases (specs: string[], cwd = process.cwd()): DatabaseInfo[] {
  if (specs.length === 0) throw new HotswapError('HOTSWAP_ERR_CONFIG', 'at least one --db [NAME=]PATH is required')
  const out: DatabaseInfo[] = []
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const hasName = eq > 0 && !spec.slice(0, eq).includes('/')
    const rawPath = hasName ? spec.slice(eq + 1) : spec
    const abs = resolve(cwd, rawPath)
    if (!existsSync(abs)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `database file not found: ${abs}`)
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

export async function serve (opts: ServeOptions): Promise<number> {
  const log = getLogger('primary')
  const app = resolve(opts.app)
  if (!existsSync(app) || !statSync(app).isFile()) throw new HotswapError('HOTSWAP_ERR_CONFIG', `app file not found: ${app}`)
  const databases = parseDatabases(opts.databases)
  const workers = opts.workers === 'max' ? availableParallelism() : opts.workers
  if (!Number.isInteger(workers) || workers < 1) throw new HotswapError('HOTSWAP_ERR_CONFIG', `--workers must be a positive integer or "max" (got ${String(opts.workers)})`)

  for (const db of databases) {
    const removed = cleanupOrphans(db.path)
    if (removed.length > 0) log.warn(`removed ${removed.length} file(s) left by an interrupted swap beside ${db.path}: ${removed.join(', ')}`)
  }

  const pool = new TaskPool()
  const supervisor = new Supervisor({ app, workers, port: opts.port, databases, logger: getLogger('supervisor') })
  const coordinator = new SwapCoordinator({ supervisor, pool, logger: getLogger('swap'), drainTimeoutMs: opts.drainTimeoutMs })
  const control = new ControlServer({
    socketPath: opts.socket,
    logger: getLogger('control'),
    idleTimeoutMs: opts.idleTimeoutMs,
    context: {
      databases, coordinator, pool, supervisor, logger: getLogger('swap'), socketPath: opts.socket, startedAt: Date.now(), maxBytes: opts.maxBytes,
    },
  })
  try {
    await control.listen()
  } catch (err) {
    await pool.close()
    throw err
  }
  process.on('exit', () => { control.stopAccepting() })
  log.info(`hotswap ${VERSION} serving ${app} with ${workers} worker(s)`, {
    pid: process.pid, databases: databases.map((d) => `${d.name}=${d.path}`), socket: opts.socket, port: opts.port ?? null,
  })
  supervisor.start()

  return await new Promise<number>((resolveExit) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn(`${signal} again: stopping at once`)
        for (const w of supervisor.all()) w.worker.process.kill('SIGKILL')
        resolveExit(1)
        return
      }
      stopping = true
      log.info(`${signal}: shutting down`)
      void (async () => {
        control.stopAccepting()
        // A swap in progress finishes first: taking the lock waits for it.
        await coordinator.withLock('shutdown', async () => {
          control.destroyConnections()
          await supervisor.stop(opts.killTimeoutMs)
        })
        await pool.close()
        log.info('stopped')
        resolveExit(0)
      })()
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  }).then(async (code) => {
    await flushLogger()
    return code
  })
}
