import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { HotswapError } from '../shared/errors.js'
import { reportError } from '../client/output.js'
import { healthCheckProblem, loadConfigFile, logMaxSize, maxMemoryValue, mergeSettings, metricsFlag, nodeOptionProblem, settingsFromEnv, type PartialSettings } from '../primary/config.js'
import { serve } from '../primary/serve.js'
import { workingDirectory } from '../shared/working-directory.js'

export default class Serve extends HotswapCommand {
  static args = {
    app: Args.string({ description: 'the app to run in every worker (ESM or CommonJS); or "app" in the config file' }),
  }

  static description = `Run APP in N cluster workers on one port, with hot-swappable SQLite databases

Settings come from flags, then HOTSWAP_* variables, then hotswap.config.json (.mjs, .js) in the working directory or --config, then the defaults shown.`

  static examples = [
    '<%= config.bin %> serve app.js --workers 4 --db db/production.sqlite3 --port 3000',
    '<%= config.bin %> serve app.js --workers max --db main=db/app.sqlite3 --db cache=db/cache.sqlite3',
    '<%= config.bin %> serve --config /etc/myapp/hotswap.config.json',
    '<%= config.bin %> serve --env production --node-option=--max-old-space-size=512 -- --app-flag value',
    '<%= config.bin %> serve app.js --db db/dev.sqlite3 --watch',
  ]

  static usage = '<%= command.id %> [APP] [FLAGS] [-- APP_ARGS...]'

  static flags = {
    config: Flags.string({ description: 'config file [default: hotswap.config.json, .mjs or .js in the working directory]' }),
    create: Flags.boolean({ description: 'create a missing --db file as an empty database (WAL journal mode, 0600) before starting', allowNo: true }),
    db: Flags.string({ description: 'a managed database, [NAME=]PATH (NAME defaults to the file name without extension)', multiple: true }),
    env: Flags.string({ description: 'lay the config file\'s env_NAME section over its env (e.g. --env production)' }),
    'node-option': Flags.string({ description: 'a node flag for the workers (their execArgv); repeat for more, e.g. --node-option=--max-old-space-size=512', multiple: true }),
    watch: Flags.boolean({ description: 'development: reload when a file under the app\'s directory changes (not the databases, node_modules)', allowNo: true }),
    'drain-timeout': Flags.integer({ description: 'how long a swap waits for in-flight requests (ms) [default: 10000]', min: 1 }),
    'drain-warning': Flags.integer({ description: 'a swap whose drain waits longer than this (ms) logs a warning naming the requests it waits for [default: 1000]', min: 1 }),
    'health-check': Flags.string({ description: 'the watchdog GETs this path of the app in every worker; one that fails --health-threshold checks in a row is replaced' }),
    'health-interval': Flags.integer({ description: 'how often the watchdog checks each worker (ms; 0: never) [default: 5000]', min: 0 }),
    'health-threshold': Flags.integer({ description: 'failed checks in a row that get a worker replaced [default: 3]', min: 1 }),
    'health-timeout': Flags.integer({ description: 'how long a check (ping, GET) may take (ms) [default: 5000]', min: 1 }),
    'idle-timeout': Flags.integer({ description: 'abort an upload that sends nothing for this long (ms) [default: 60000]', min: 1 }),
    keep: Flags.integer({ description: 'replaced generations each database keeps for undo, beside it in .hotswap/ (0 keeps none) [default: 1]', min: 0 }),
    'kill-timeout': Flags.integer({ description: 'how long a stopping worker may take before SIGKILL (ms) [default: 10000]', min: 1 }),
    'listen-timeout': Flags.integer({ description: 'how long a starting worker may take to become ready (ms) [default: 30000]', min: 1 }),
    'log-file': Flags.string({ description: 'also write JSON logs to this file' }),
    'log-format': Flags.string({ description: 'json or pretty [default: pretty on a terminal, json otherwise]', options: ['json', 'pretty'] }),
    'log-level': Flags.string({ description: 'error, warn, info, debug … [default: info]' }),
    'log-max-files': Flags.integer({ description: 'log files the rotation keeps, the live one included [default: 5 with --log-max-size]', min: 2 }),
    'log-max-size': Flags.string({ description: 'rotate --log-file when it reaches this size: bytes, or 512k, 10M, 1G' }),
    'max-bytes': Flags.integer({ description: 'largest accepted upload in bytes [default: 64 GiB]', min: 1 }),
    'max-memory': Flags.string({ description: 'a worker whose RSS is over this size (512M, 1G) is replaced, new one first' }),
    'max-restarts': Flags.integer({ description: 'quick crashes in a row before a worker slot is given up [default: 10]', min: 0 }),
    metrics: Flags.string({ description: 'serve /metrics (Prometheus), /livez and /readyz on HOST:PORT or a Unix socket path [default: off]' }),
    'min-ready': Flags.integer({ description: 'ready workers /readyz needs to answer 200 [default: every worker]', min: 1 }),
    'min-uptime': Flags.integer({ description: 'a worker that dies sooner than this (ms) crashed quickly [default: 1000]', min: 0 }),
    port: Flags.integer({ description: 'sets PORT for the workers', min: 0, max: 65_535 }),
    socket: socketFlag,
    'stage-ttl': Flags.integer({ description: 'how long a staged file (cp --stage) waits for its commit (ms) [default: 3600000]', min: 1 }),
    spool: Flags.string({ description: 'where a pull streamed to stdout keeps its snapshot meanwhile [default: the system temp directory]' }),
    'wait-ready': Flags.boolean({ description: 'a worker is ready when the app calls ready(), not when it listens', allowNo: true }),
    workers: Flags.string({ char: 'w', description: 'number of workers, or "max": one per core, within the cgroup CPU quota [default: max]' }),
  }

  async run (): Promise<void> {
    // Everything after `--` is the app's (process.argv in the workers), never serve's flags.
    const dashes = this.argv.indexOf('--')
    const appArgs = dashes === -1 ? undefined : this.argv.slice(dashes + 1)
    const { args, flags } = await this.parse(Serve, dashes === -1 ? this.argv : this.argv.slice(0, dashes))
    let code: number
    try {
      const envName = flags.env
      if (envName !== undefined && !/^[A-Za-z0-9_-]+$/.test(envName)) {
        throw new HotswapError('HOTSWAP_ERR_USAGE', `--env takes the NAME of an env_NAME section: letters, digits, _ and - (got ${JSON.stringify(envName)})`)
      }
      for (const o of flags['node-option'] ?? []) {
        const problem = nodeOptionProblem(o)
        if (problem !== null) throw new HotswapError('HOTSWAP_ERR_USAGE', `--node-option ${problem}`)
      }
      const cwd = process.cwd()
      const fromFlags: PartialSettings = {
        app: args.app,
        workers: parseWorkers(flags.workers),
        databases: flags.db,
        create: flags.create,
        socket: flags.socket,
        port: flags.port,
        drainTimeoutMs: flags['drain-timeout'],
        killTimeoutMs: flags['kill-timeout'],
        listenTimeoutMs: flags['listen-timeout'],
        minUptimeMs: flags['min-uptime'],
        maxRestarts: flags['max-restarts'],
        waitReady: flags['wait-ready'],
        maxBytes: flags['max-bytes'],
        idleTimeoutMs: flags['idle-timeout'],
        logFormat: flags['log-format'] as 'json' | 'pretty' | undefined,
        logLevel: flags['log-level'],
        logFile: flags['log-file'],
        logMaxSize: flagSize(flags['log-max-size']),
        logMaxFiles: flags['log-max-files'],
        drainWarningMs: flags['drain-warning'],
        spool: flags.spool,
        keep: flags.keep,
        stageTtlMs: flags['stage-ttl'],
        metrics: metricsFlag(flags.metrics, cwd),
        minReady: flags['min-ready'],
        maxMemory: parseMaxMemory(flags['max-memory']),
        healthCheck: parseHealthCheck(flags['health-check']),
        healthIntervalMs: flags['health-interval'],
        healthTimeoutMs: flags['health-timeout'],
        healthThreshold: flags['health-threshold'],
        appArgs,
        nodeOptions: flags['node-option'],
        watch: flags.watch,
      }
      // Found by the folder's name, so that its `app` follows a release symlink (see config.ts).
      const fromFile = await loadConfigFile(workingDirectory(), flags.config, envName)
      code = await serve(mergeSettings(cwd, fromFlags, settingsFromEnv(process.env), fromFile))
    } catch (err) {
      code = reportError(err)
    }
    // The primary's handles (pool, cluster) are closed by now; exit does not cut anything off.
    process.exit(code)
  }
}

/** --log-max-size: a bad value is a usage error (exit 2), as in parseWorkers. */
function flagSize (value: string | undefined): number | undefined {
  try {
    return logMaxSize(value, 'flag', '--log-max-size')
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', (err as HotswapError).message.replace(/^flag: "--log-max-size"/, '--log-max-size'))
  }
}

function parseWorkers (value: string | undefined): number | 'max' | undefined {
  if (value === undefined || value === 'max') return value
  const n = Number(value)
  // A bad flag value is a usage error (exit 2), as oclif's own parse errors are; the same value
  // from HOTSWAP_WORKERS or the config file is a configuration error (config.ts).
  if (!Number.isInteger(n) || n < 1) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `--workers must be a positive integer or "max" (got ${JSON.stringify(value)})`)
  }
  return n
}

/** A bad flag value is a usage error (exit 2); the same from HOTSWAP_MAX_MEMORY or the config file a configuration error. */
function parseMaxMemory (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const v = maxMemoryValue(value)
  if ('problem' in v) throw new HotswapError('HOTSWAP_ERR_USAGE', `--max-memory ${v.problem}`)
  return v.bytes
}

function parseHealthCheck (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const problem = healthCheckProblem(value)
  if (problem !== null) throw new HotswapError('HOTSWAP_ERR_USAGE', `--health-check ${problem}`)
  return value
}
