import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { socketPath } from '../shared/socket-path.js'
import { runCp } from '../client/fast-cp.js'

export default class Cp extends HotswapCommand {
  static args = {
    src: Args.string({ description: 'a file, a managed database (path or name), or - for stdin', required: true }),
    dst: Args.string({ description: 'a file, a managed database (path or name), or - for stdout', required: true }),
  }

  static description = `Push a database into the running server (swap), or pull a consistent snapshot out

Exactly one side is a managed database (its path or NAME); - is stdin or stdout. A push prints OK on stdout once every worker serves the new file. When stderr is a terminal it shows the transfer (bytes, rate, ETA when the size is known) and the phases (validating, swapping, done); otherwise nothing but errors.`

  static examples = [
    '<%= config.bin %> cp new.sqlite3 db/production.sqlite3        # push: swap the live database',
    '<%= config.bin %> cp - production < new.sqlite3               # push from stdin, by name',
    '<%= config.bin %> cp db/production.sqlite3 backup.sqlite3     # pull: a consistent snapshot',
    '<%= config.bin %> cp production - | gzip > backup.sqlite3.gz  # pull to stdout',
    "ssh prod 'cd /srv/app && hotswap cp - db/production.sqlite3' < new.sqlite3     # push over ssh",
    "ssh prod 'cd /srv/app && hotswap cp db/production.sqlite3 -' > backup.sqlite3  # pull over ssh",
    '<%= config.bin %> cp new.sqlite3 production --stage            # check and keep it; prints a stage id for hotswap commit',
  ]

  static flags = {
    force: Flags.boolean({ description: 'swap even when another process has the live database open' }),
    'skip-integrity-check': Flags.boolean({ description: 'do not run PRAGMA integrity_check on the pushed file' }),
    'skip-schema-check': Flags.boolean({ description: 'allow a schema that differs from the live one' }),
    stage: Flags.boolean({ description: 'receive and check the push, keep it staged and print its id instead of swapping (hotswap commit ID swaps it)' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    // bin/run.js runs plain `cp` calls without oclif (src/client/fast-cp.ts); this is the path
    // for the rest, and both end in runCp.
    const { args, flags } = await this.parse(Cp)
    process.exitCode = await runCp({
      src: args.src,
      dst: args.dst,
      socketPath: socketPath(flags.socket),
      skipIntegrityCheck: flags['skip-integrity-check'],
      skipSchemaCheck: flags['skip-schema-check'],
      force: flags.force,
      stage: flags.stage,
    })
  }
}
