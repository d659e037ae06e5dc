import { Args, Command, Flags } from '@oclif/core'
import { reportError } from '../client/output.js'
import { defaultSocketPath, serve } from '../primary/serve.js'

export default class Serve extends Command {
  static args = {
    app: Args.string({ description: 'the app to run in every worker (ESM or CommonJS)', required: true }),
  }

  static description = 'Run APP in N cluster workers on one port, with hot-swappable SQLite databases'

  static examples = [
    '<%= config.bin %> serve app.js --workers 4 --db db/production.sqlite3 --port 3000',
    '<%= config.bin %> serve app.js --workers max --db main=db/app.sqlite3 --db cache=db/cache.sqlite3',
  ]

  static flags = {
    db: Flags.string({ description: 'a managed database, [NAME=]PATH (NAME defaults to the file name without extension)', multiple: true, required: true }),
    'drain-timeout': Flags.integer({ description: 'how long a swap waits for in-flight requests (ms)', default: 10_000, min: 1 }),
    'idle-timeout': Flags.integer({ description: 'abort an upload that sends nothing for this long (ms)', default: 60_000, min: 1 }),
    'kill-timeout': Flags.integer({ description: 'how long shutdown waits for a worker before SIGKILL (ms)', default: 10_000, min: 1 }),
    'max-bytes': Flags.integer({ description: 'largest accepted upload (bytes)', default: 64 * 1024 ** 3, min: 1 }),
    port: Flags.integer({ description: 'sets PORT for the workers', min: 0, max: 65_535 }),
    socket: Flags.string({ description: 'control socket path [default: $HOTSWAP_SOCKET or tmp/sockets/hotswap.sock]' }),
    workers: Flags.string({ char: 'w', description: 'number of workers, or "max"', default: 'max' }),
  }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(Serve)
    const workers = flags.workers === 'max' ? 'max' : Number(flags.workers)
    let code: number
    try {
      code = await serve({
        app: args.app,
        workers,
        databases: flags.db,
        socket: flags.socket ?? defaultSocketPath(),
        port: flags.port,
        drainTimeoutMs: flags['drain-timeout'],
        killTimeoutMs: flags['kill-timeout'],
        maxBytes: flags['max-bytes'],
        idleTimeoutMs: flags['idle-timeout'],
      })
    } catch (err) {
      code = reportError(err)
    }
    // The primary's handles (pool, cluster) are closed by now; exit does not cut anything off.
    process.exit(code)
  }
}
