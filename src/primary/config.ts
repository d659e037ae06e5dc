// Where `hotswap serve` takes its settings from, strongest first: command-line flags, HOTSWAP_*
// environment variables, the config file (hotswap.config.json, .mjs or .js in the working
// directory, or --config PATH), then the defaults. An invalid value is a start-up error that
// names the field.

import { dirname, isAbsolute, resolve } from 'node:path'
import { readConfigFile } from '../shared/config-file.js'
import { HotswapError } from '../shared/errors.js'
import { LOG_LEVELS, type LogFormat } from '../shared/logger.js'
import { realpathOr } from '../shared/managed.js'
import { parseSize } from '../shared/size.js'
import { DEFAULT_SOCKET, socketPathProblem } from '../shared/socket-path.js'
import { parseMetricsAddress, type MetricsAddress } from './metrics/address.js'

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
  /** --metrics: where /metrics, /livez and /readyz listen (off when unset). */
  metrics?: MetricsAddress
  /** --min-ready: ready workers /readyz needs (default: every worker). */
  minReady?: number
  /** --max-memory: a worker whose RSS is over it (bytes) is replaced. */
  maxMemory?: number
  /** --health-check: the app's path the watchdog GETs in every worker. */
  healthCheck?: string
  /** The watchdog's period (0: off), the time a check may take, the failures in a row that replace a worker. */
  healthIntervalMs: number
  healthTimeoutMs: number
  healthThreshold: number
  /** Arguments after `--` (or the config's "args"): the app's process.argv after its path. */
  appArgs: string[]
  /** --node-option (or "nodeOptions"): node flags for the workers (their execArgv). */
  nodeOptions: string[]
  /** --env NAME: the config file's env_NAME section, laid over its env. */
  envName?: string
  /** The config file the settings came from: reload reads its environment again. */
  configFile?: string
  /** --watch: reload on source changes under the app's directory (development). */
  watch: boolean
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
  healthIntervalMs: 5000,
  healthTimeoutMs: 5000,
  healthThreshold: 3,
  drainWarningMs: 1000,
}

/** The smallest --max-memory: below it a unit was surely left out (`512` is bytes). */
const MIN_MAX_MEMORY = 1024 ** 2

/** `v` as a --max-memory (bytes, or a size such as 512M), or why it is not one. */
export function maxMemoryValue (v: unknown): { bytes: number } | { problem: string } {
  const n = typeof v === 'number' ? (Number.isSafeInteger(v) ? v : null) : typeof v === 'string' ? parseSize(v) : null
  if (n === null) return { problem: `must be a size such as 512M or 1G (K, M, G: 1024s; a plain number is bytes) (got ${JSON.stringify(v)})` }
  if (n < MIN_MAX_MEMORY) return { problem: `must be at least 1M (got ${JSON.stringify(v)}, ${n} bytes: was the unit left out?)` }
  return { bytes: n }
}

/** Why `v` is not a --health-check path (it goes into a request line), or null. */
export function healthCheckProblem (v: unknown): string | null {
  if (typeof v !== 'string' || !/^\/[\x21-\x7e]*$/.test(v)) return `must be a path that starts with / (printable ASCII, no spaces), such as /healthz (got ${JSON.stringify(v)})`
  return null
}

function maxMemory (v: unknown, field: string, source: string): number | undefined {
  if (v === undefined) return undefined
  const value = maxMemoryValue(v)
  if ('problem' in value) throw bad(field, value.problem, source)
  return value.bytes
}

function healthCheck (v: unknown, field: string, source: string): string | undefined {
  if (v === undefined) return undefined
  const problem = healthCheckProblem(v)
  if (problem !== null) throw bad(field, problem, source)
  return v as string
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

function metricsValue (v: unknown, base: string, field: string, source: string): MetricsAddress | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw bad(field, 'must be a string: HOST:PORT or a Unix socket path', source)
  try {
    return parseMetricsAddress(v, base)
  } catch (err) {
    throw bad(field, (err as Error).message, source)
  }
}

/** `--metrics VALUE`, relative socket paths against `cwd`; a bad value is a usage error (exit 2). */
export function metricsFlag (v: string | undefined, cwd: string): MetricsAddress | undefined {
  if (v === undefined) return undefined
  try {
    return parseMetricsAddress(v, cwd)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `--metrics: ${(err as Error).message}`)
  }
}

function logFormat (v: unknown, source: string): LogFormat | undefined {
  if (v === undefined) return undefined
  if (v !== 'json' && v !== 'pretty') throw bad('logFormat', `must be "json" or "pretty" (got ${JSON.stringify(v)})`, source)
  return v
}

/** --log-max-size: bytes, or a size with a unit (`10M`, `512k`). */
export function logMaxSize (v: unknown, source: string, field = 'logMaxSize'): number | undefined {
  if (v === undefined) return undefined
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : null
  if (n === null || !Number.isSafeInteger(n) || n < MIN_LOG_MAX_SIZE) {
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
  'waitReady', 'maxBytes', 'idleTimeout', 'logFormat', 'logLevel', 'logFile', 'spool', 'keep', 'stageTtl', 'env', 'metrics', 'minReady',
  'maxMemory', 'healthCheck', 'healthInterval', 'healthTimeout', 'healthThreshold',
  'args', 'nodeOptions', 'watch',
  'logMaxSize', 'logMaxFiles', 'drainWarning',
  // The fleet commands' section (client/fleet/config.ts checks it); serve ignores it.
  'fleet'])

/**
 * Reads and checks a config file; paths in it resolve against the file's own folder. `envName`
 * (--env) lays the file's env_NAME section over its env; a name the file has no section for is
 * an error naming the ones it has. `fresh`: read again (reload), not from the module cache.
 */
export async function loadConfigFile (cwd: string, explicit?: string, envName?: string, fresh = false): Promise<PartialSettings & { file?: string }> {
  const read = await readConfigFile(cwd, explicit, fresh)
  if (read === undefined) {
    if (envName !== undefined) throw new HotswapError('HOTSWAP_ERR_CONFIG', `--env ${envName}: there is no config file (hotswap.config.json, .mjs or .js in ${cwd}, or --config PATH) to take env_${envName} from`)
    return {}
  }
  const { file, config: c } = read
  const source = file
  for (const key of Object.keys(c)) {
    if (!KNOWN.has(key) && !ENV_SECTION.test(key)) throw bad(key, `is not a known setting (known: ${[...KNOWN].join(', ')}, env_NAME)`, source)
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
  let env = envSection(c.env, 'env', source)
  const sections = Object.keys(c).filter((k) => ENV_SECTION.test(k))
  // Every section is checked, chosen or not: a typo in env_staging fails today, not at the next deploy.
  for (const key of sections) envSection(c[key], key, source)
  if (envName !== undefined) {
    const key = `env_${envName}`
    if (!sections.includes(key)) {
      throw new HotswapError('HOTSWAP_ERR_CONFIG', `--env ${envName}: ${source} has no "${key}" section (${sections.length === 0 ? 'it has none' : `it has: ${sections.join(', ')}`})`)
    }
    env = { ...env, ...envSection(c[key], key, source) }
  }
  for (const key of ['waitReady', 'create', 'watch'] as const) {
    if (c[key] !== undefined && typeof c[key] !== 'boolean') throw bad(key, 'must be true or false', source)
  }
  const out: PartialSettings & { file?: string } = {
    file,
    configFile: file,
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
    metrics: metricsValue(c.metrics, realBase, 'metrics', source),
    minReady: int(c.minReady, 'minReady', source, 1),
    maxMemory: maxMemory(c.maxMemory, 'maxMemory', source),
    healthCheck: healthCheck(c.healthCheck, 'healthCheck', source),
    healthIntervalMs: int(c.healthInterval, 'healthInterval', source),
    healthTimeoutMs: int(c.healthTimeout, 'healthTimeout', source, 1),
    healthThreshold: int(c.healthThreshold, 'healthThreshold', source, 1),
    appArgs: strings(c.args, 'args', source, false),
    nodeOptions: strings(c.nodeOptions, 'nodeOptions', source, true),
    watch: c.watch as boolean | undefined,
    envName,
  }
  if (out.port !== undefined && out.port > 65535) throw bad('port', 'must be at most 65535', source)
  return out
}

/** `env_production`, `env_staging`, …: the sections --env NAME chooses from. */
const ENV_SECTION = /^env_[A-Za-z0-9_-]+$/

/** An env object (`env`, `env_NAME`): own string values only. */
function envSection (v: unknown, field: string, source: string): Record<string, string> | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'must be an object of strings', source)
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw bad(`${field}.${k}`, 'must be a string', source)
  }
  // fromEntries defines each name as an own property: `env[k] = v` with k "__proto__" set the
  // object's prototype instead, and the variable was dropped without a word.
  return Object.fromEntries(Object.entries(v)) as Record<string, string>
}

/** "args", "nodeOptions": arrays of strings; a node option must start with "-". */
function strings (v: unknown, field: string, source: string, options: boolean): string[] | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(field, 'must be an array of strings', source)
  const list = v as string[]
  if (options) {
    const wrong = list.find((o) => nodeOptionProblem(o) !== null)
    if (wrong !== undefined) throw bad(field, nodeOptionProblem(wrong) as string, source)
  }
  return list
}

/** Why a --node-option value cannot be a node flag (null: it can be one, as far as its shape goes). */
export function nodeOptionProblem (o: string): string | null {
  if (!/^--?[A-Za-z]/.test(o)) return `takes node flags, each starting with "-" (got ${JSON.stringify(o)}); arguments for the app go after --`
  return null
}

/** HOTSWAP_* variables for serve (the socket's is shared with every command). */
export function settingsFromEnv (env: NodeJS.ProcessEnv, cwd = process.cwd()): PartialSettings {
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
    metrics: metricsValue(get('HOTSWAP_METRICS'), cwd, 'HOTSWAP_METRICS', source),
    minReady: int(get('HOTSWAP_MIN_READY'), 'HOTSWAP_MIN_READY', source, 1),
    maxMemory: maxMemory(get('HOTSWAP_MAX_MEMORY'), 'HOTSWAP_MAX_MEMORY', source),
    healthCheck: healthCheck(get('HOTSWAP_HEALTH_CHECK'), 'HOTSWAP_HEALTH_CHECK', source),
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
    metrics: pick('metrics'),
    minReady: pick('minReady'),
    maxMemory: pick('maxMemory'),
    healthCheck: pick('healthCheck'),
    healthIntervalMs: pick('healthIntervalMs') ?? DEFAULTS.healthIntervalMs,
    healthTimeoutMs: pick('healthTimeoutMs') ?? DEFAULTS.healthTimeoutMs,
    healthThreshold: pick('healthThreshold') ?? DEFAULTS.healthThreshold,
    appArgs: pick('appArgs') ?? [],
    nodeOptions: pick('nodeOptions') ?? [],
    envName: pick('envName'),
    configFile: pick('configFile'),
    watch: pick('watch') ?? false,
  }
}
