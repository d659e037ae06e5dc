import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { swap } from '../client/swap.js'
import { socketPath } from '../shared/socket-path.js'

export default class Swap extends HotswapCommand {
  static strict = false

  static args = {
    pair: Args.string({ description: 'NAME=FILE: a managed database (name or path) and the file that replaces it', required: true }),
  }

  static description = `Replace several databases in one pause: all of them, or none

Each file is received and checked as a push (cp FILE NAME --stage), then all are committed together (hotswap commit). If any file is refused, the others are dropped and nothing live changes.`

  static examples = ['<%= config.bin %> swap app=build/app.sqlite3 cache=build/cache.sqlite3']

  static flags = {
    force: Flags.boolean({ description: 'swap even when another process has a live database open' }),
    'skip-integrity-check': Flags.boolean({ description: 'do not run PRAGMA integrity_check on the files' }),
    'skip-schema-check': Flags.boolean({ description: 'allow schemas that differ from the live ones' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { argv, flags } = await this.parse(Swap)
    process.exitCode = await swap({
      pairs: argv as string[],
      socketPath: socketPath(flags.socket),
      skipIntegrityCheck: flags['skip-integrity-check'],
      skipSchemaCheck: flags['skip-schema-check'],
      force: flags.force,
    })
  }
}
