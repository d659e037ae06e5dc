// Where `hotswap serve` takes its settings from, strongest first: command-line flags, HOTSWAP_*
// environment variables, the config file (hotswap.config.json, .mjs or .js in the working
// directory, or --config PATH), then the defaults. An invalid value is a start-up error that
// names the field.

import { dirname, isAbsolute, resolve } from 'node:path'
import { readConfigFile } from '../shared/config-file.js'
import { HotswapError } from '../shared/errors.js'
import { parseSize } from '../shared/format.js'
import { LOG_LEVELS, type LogFormat } from '../shared/logger.js'
import { realpathOr } from '../shared/managed.js'
import { DEFAULT_SOCKET, socketPathProblem } from '../shared/socket-path.js'

export interface ServeSettings {
  app: string
  workers: number | 'max'
  databases: string[]
  /** --create: a missing database file is created empty (WAL) at start-up. */
  create: boolean
  socket: string
  port?: number
  drainTimeoutMs: number
  killTimeoutMs: number
  listenTimeoutMs: number
  minUptimeMs: number
  maxRestarts: number
  waitReady: boolean
  maxBytes: number
  idleTimeoutMs: number
  logFormat?: LogFormat
  logLevel?: string
  logFile?: string
  /** Rotate the log file at this many bytes (--log-max-size). */
  logMaxSize?: number
  /** Log files the rotation keeps, the live one included (--log-max-files). */
  logMaxFiles?: number
  /** A swap's drain still waiting after this long logs the requests it waits for (--drain-warning). */
  drainWarningMs: number
  /** Where a streamed pull's snapshot waits (default: the system's temp directory). */
  spool?: string
  /** How many replaced generations each database keeps for undo (0: none). */
  keep: number
  /** How long a staged file waits for its commit. */
  stageTtlMs: number
  env: Record<string, string>
}

/** Everything a flag, variable or config file may set; undefined means "not given here". */
export type PartialSettings = Partial<ServeSettings>

export const DEFAULTS = {
  workers: 'max' as const,
  drainTimeoutMs: 10_000,
  killTimeoutMs: 10_000,
  listenTimeoutMs: 30_000,
  minUptimeMs: 1000,
  maxRestarts: 10,
  waitReady: false,
  create: false,
  maxBytes: 64 * 1024 ** 3,
  idleTimeoutMs: 60_000,
  keep: 1,
  stageTtlMs: 3_600_000,
  drainWarningMs: 1000,
}

/** The smallest --log-max-size: a rotation per few records helps nobody. */
export const MIN_LOG_MAX_SIZE = 1024

function bad (field: string, what: string, source: string): HotswapError {
  return new HotswapError('HOTSWAP_ERR_CONFIG', `${source}: "${field}" ${what}`)
}

function int (v: unknown, field: string, source: string, min = 0): number | undefined {
  if (v === undefined) return undefined
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw bad(field, `must be an integer of at least ${min} (got ${JSON.stringify(v)})`, source)
  return n
}

function workersValue (v: unknown, source: string): number | 'max' | undefined {
  if (v === undefined) return undefined
  if (v === 'max') return 'max'
  return int(v, 'workers', source, 1)
}

function str (v: unknown, field: string, source: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v === '') throw bad(field, 'must be a non-empty string', source)
  return v
}

function logFormat (v: unknown, source: string): LogFormat | undefined {
  if (v === undefined) return undefined
  if (v !== 'json' && v !== 'pretty') throw bad('logFormat', `must be "json" or "pretty" (got ${JSON.stringify(v)})`, source)
  return v
}

/** --log-max-size: bytes, or a size with a unit (`10M`, `512k`). */
export function logMaxSize (v: unknown, source: string, field = 'logMaxSize'): number | undefined {
  if (v === undefined) return undefined
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : undefined
  if (n === undefined || !Number.isSafeInteger(n) || n < MIN_LOG_MAX_SIZE) {
    throw bad(field, `must be a size of at least ${MIN_LOG_MAX_SIZE} bytes, in bytes or with a unit: 10485760, 512k, 10M, 1G (got ${JSON.stringify(v)})`, source)
  }
  return n
}

function logLevel (v: unknown, source: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !LOG_LEVELS.includes(v)) throw bad('logLevel', `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(v)})`, source)
  return v
}

const KNOWN = new Set(['app', 'workers', 'db', 'create', 'socket', 'port', 'drainTimeout', 'killTimeout', 'listenTimeout', 'minUptime', 'maxRestarts',
  'waitReady', 'maxBytes', 'idleTimeout', 'logFormat', 'logLevel', 'logFile', 'spool', 'keep', 'stageTtl', 'env',
  'logMaxSize', 'logMaxFiles', 'drainWarning',
  // The fleet commands' section (client/fleet/config.ts checks it); serve ignores it.
  'fleet'])

/** Reads and checks a config file; paths in it resolve against the file's own folder. */
export async function loadConfigFile (cwd: string, explicit?: string): Promise<PartialSettings & { file?: string }> {
  const read = await readConfigFile(cwd, explicit)
  if (read === undefined) return {}
  const { file, config: c } = read
  const source = file
  for (const key of Object.keys(c)) {
    if (!KNOWN.has(key)) throw bad(key, `is not a known setting (known: ${[...KNOWN].join(', ')})`, source)
  }
  // The app path keeps the folder as named (through a release symlink, say): every fork resolves
  // it again. The other paths are fixed at start-up, through the links as they are now.
  const base = dirname(file)
  const realBase = realpathOr(base)
  const at = (p: string): string => isAbsolute(p) ? p : resolve(realBase, p)
  const appAt = (p: string): string => isAbsolute(p) ? p : resolve(base, p)
  let databases: string[] | undefined
  if (c.db !== undefined) {
    const list = Array.isArray(c.db) ? c.db : [c.db]
    databases = list.map((d, i) => {
      if (typeof d === 'string' && d !== '') {
        const eq = d.indexOf('=')
        return eq > 0 && !d.slice(0, eq).includes('/') ? `${d.slice(0, eq)}=${at(d.slice(eq + 1))}` : at(d)
      }
      if (typeof d === 'object' && d !== null && typeof (d as { path?: unknown }).path === 'string') {
        const { name, path } = d as { name?: unknown, path: string }
        if (name !== undefined && typeof name !== 'string') throw bad(`db[${i}].name`, 'must be a string', source)
        return name !== undefined ? `${name}=${at(path)}` : at(path)
      }
      throw bad(`db[${i}]`, 'must be "[NAME=]PATH" or { "name": ..., "path": ... }', source)
    })
  }
  let env: Record<string, string> | undefined
  if (c.env !== undefined) {
    if (typeof c.env !== 'object' || c.env === null || Array.isArray(c.env)) throw bad('env', 'must be an object of strings', source)
    for (const [k, v] of Object.entries(c.env)) {
      if (typeof v !== 'string') throw bad(`env.${k}`, 'must be a string', source)
    }
    // fromEntries defines each name as an own property: `env[k] = v` with k "__proto__" set the
    // object's prototype instead, and the variable was dropped without a word.
    env = Object.fromEntries(Object.entries(c.env)) as Record<string, string>
  }
  for (const key of ['waitReady', 'create'] as const) {
    if (c[key] !== undefined && typeof c[key] !== 'boolean') throw bad(key, 'must be true or false', source)
  }
  const out: PartialSettings & { file?: string } = {
    file,
    app: c.app !== undefined ? appAt(str(c.app, 'app', source) as string) : undefined,
    workers: workersValue(c.workers, source),
    databases,
    socket: c.socket !== undefined ? at(str(c.socket, 'socket', source) as string) : undefined,
    port: int(c.port, 'port', source),
    drainTimeoutMs: int(c.drainTimeout, 'drainTimeout', source, 1),
    killTimeoutMs: int(c.killTimeout, 'killTimeout', source, 1),
    listenTimeoutMs: int(c.listenTimeout, 'listenTimeout', source, 1),
    minUptimeMs: int(c.minUptime, 'minUptime', source),
    maxRestarts: int(c.maxRestarts, 'maxRestarts', source),
    waitReady: c.waitReady as boolean | undefined,
    create: c.create as boolean | undefined,
    maxBytes: int(c.maxBytes, 'maxBytes', source, 1),
    idleTimeoutMs: int(c.idleTimeout, 'idleTimeout', source, 1),
    logFormat: logFormat(c.logFormat, source),
    logLevel: logLevel(c.logLevel, source),
    logFile: c.logFile !== undefined ? at(str(c.logFile, 'logFile', source) as string) : undefined,
    logMaxSize: logMaxSize(c.logMaxSize, source),
    logMaxFiles: int(c.logMaxFiles, 'logMaxFiles', source, 2),
    drainWarningMs: int(c.drainWarning, 'drainWarning', source, 1),
    spool: c.spool !== undefined ? at(str(c.spool, 'spool', source) as string) : undefined,
    keep: int(c.keep, 'keep', source),
    stageTtlMs: int(c.stageTtl, 'stageTtl', source, 1),
    env,
  }
  if (out.port !== undefined && out.port > 65535) throw bad('port', 'must be at most 65535', source)
  return out
}

/** HOTSWAP_* variables for serve (the socket's is shared with every command). */
export function settingsFromEnv (env: NodeJS.ProcessEnv): PartialSettings {
  const source = 'environment'
  const get = (name: string): string | undefined => env[name] !== undefined && env[name] !== '' ? env[name] : undefined
  return {
    workers: workersValue(get('HOTSWAP_WORKERS'), source),
    port: int(get('HOTSWAP_PORT'), 'HOTSWAP_PORT', source),
    socket: get('HOTSWAP_SOCKET'),
    logFormat: logFormat(get('HOTSWAP_LOG_FORMAT'), source),
    logLevel: logLevel(get('HOTSWAP_LOG_LEVEL'), source),
    logFile: get('HOTSWAP_LOG_FILE'),
    logMaxSize: logMaxSize(get('HOTSWAP_LOG_MAX_SIZE'), source, 'HOTSWAP_LOG_MAX_SIZE'),
    logMaxFiles: int(get('HOTSWAP_LOG_MAX_FILES'), 'HOTSWAP_LOG_MAX_FILES', source, 2),
    spool: get('HOTSWAP_SPOOL'),
    keep: int(get('HOTSWAP_KEEP'), 'HOTSWAP_KEEP', source),
  }
}

/** Merges the layers, strongest first, and fills in the defaults. */
export function mergeSettings (cwd: string, ...layers: PartialSettings[]): ServeSettings {
  const pick = <K extends keyof ServeSettings>(key: K): ServeSettings[K] | undefined => {
    for (const layer of layers) {
      const v = layer[key]
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) return v as ServeSettings[K]
    }
    return undefined
  }
  const app = pick('app')
  if (app === undefined) throw new HotswapError('HOTSWAP_ERR_CONFIG', 'no app to serve: give APP, or "app" in hotswap.config.json')
  const databases = pick('databases')
  if (databases === undefined) throw new HotswapError('HOTSWAP_ERR_CONFIG', 'no database: give --db [NAME=]PATH, or "db" in hotswap.config.json')
  // Weakest first, so a stronger layer's value wins; fromEntries keeps every name as an own key.
  const socket = resolve(cwd, pick('socket') ?? DEFAULT_SOCKET)
  const tooLong = socketPathProblem(socket)
  if (tooLong !== null) throw new HotswapError('HOTSWAP_ERR_CONFIG', tooLong)
  const env = Object.fromEntries([...layers].reverse().flatMap((layer) => Object.entries(layer.env ?? {}))) as Record<string, string>
  return {
    app,
    databases,
    workers: pick('workers') ?? DEFAULTS.workers,
    socket,
    port: pick('port'),
    drainTimeoutMs: pick('drainTimeoutMs') ?? DEFAULTS.drainTimeoutMs,
    killTimeoutMs: pick('killTimeoutMs') ?? DEFAULTS.killTimeoutMs,
    listenTimeoutMs: pick('listenTimeoutMs') ?? DEFAULTS.listenTimeoutMs,
    minUptimeMs: pick('minUptimeMs') ?? DEFAULTS.minUptimeMs,
    maxRestarts: pick('maxRestarts') ?? DEFAULTS.maxRestarts,
    waitReady: pick('waitReady') ?? DEFAULTS.waitReady,
    create: pick('create') ?? DEFAULTS.create,
    maxBytes: pick('maxBytes') ?? DEFAULTS.maxBytes,
    idleTimeoutMs: pick('idleTimeoutMs') ?? DEFAULTS.idleTimeoutMs,
    logFormat: pick('logFormat'),
    logLevel: pick('logLevel'),
    logFile: pick('logFile'),
    logMaxSize: pick('logMaxSize'),
    logMaxFiles: pick('logMaxFiles'),
    drainWarningMs: pick('drainWarningMs') ?? DEFAULTS.drainWarningMs,
    spool: ((p) => p === undefined ? undefined : resolve(cwd, p))(pick('spool')),
    keep: pick('keep') ?? DEFAULTS.keep,
    stageTtlMs: pick('stageTtlMs') ?? DEFAULTS.stageTtlMs,
    env,
  }
}
