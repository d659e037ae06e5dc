import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class Undo extends HotswapCommand {
  static strict = false

  static args = {
    db: Args.string({ description: 'a managed database (path or NAME); several are undone in one pause [default: the only one, or those of the last commit]' }),
  }

  static description = `Swap the previous generation of a database back in, in one ordinary pause

The generation it replaces is kept in turn, so an undo can itself be undone. --to goes back to any kept generation (hotswap history lists them). Prints OK once every worker serves it.`

  static examples = [
    '<%= config.bin %> undo                       # the last push (or commit) undone',
    '<%= config.bin %> undo production --to 3     # back to generation 3',
    '<%= config.bin %> undo main cache            # both, in one pause',
  ]

  static flags = {
    to: Flags.integer({ description: 'the kept generation to go back to (one database)', min: 1 }),
    force: Flags.boolean({ description: 'swap even when another process has the live database open' }),
    hold: Flags.integer({ description: 'once every worker is paused, print PAUSED and wait up to MS for a "go" line on stdin before installing ("abort", end of input or the time out: resume unchanged); for a fleet coordinator', min: 1, max: 600_000 }),
    ready: Flags.boolean({ description: 'with --hold: print READY once everything but the pause is done (the lock, the checks, the intent), then wait for a "start" line on stdin before pausing' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { argv, flags } = await this.parse(Undo)
    process.exitCode = await remoteCommand(socketPath(flags.socket), [
      'undo', ...argv as string[], ...(flags.to === undefined ? [] : ['--to', String(flags.to)]), ...(flags.force ? ['--force'] : []),
      ...(flags.hold === undefined ? [] : ['--hold', String(flags.hold)]), ...(flags.ready ? ['--ready'] : []),
    ], flags.hold === undefined ? {} : { stdin: process.stdin })
  }
}
