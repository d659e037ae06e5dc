import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class Commit extends HotswapCommand {
  static strict = false

  static args = {
    id: Args.string({ description: 'a stage id printed by cp --stage [default: every staged database]' }),
  }

  static description = `Swap staged databases in, all in one pause: all of them or none

A stage whose database was swapped after it was staged is refused (its checks ran against a file that is no longer live). Prints OK once every worker serves the new files.`

  static examples = [
    '<%= config.bin %> commit',
    'a=$(<%= config.bin %> cp app.sqlite3 app --stage) && c=$(<%= config.bin %> cp cache.sqlite3 cache --stage) && <%= config.bin %> commit $a $c',
  ]

  static flags = {
    force: Flags.boolean({ description: 'swap even when another process has a live database open' }),
    hold: Flags.integer({ description: 'once every worker is paused, print PAUSED and wait up to MS for a "go" line on stdin before installing ("abort", end of input or the time out: resume unchanged); for a fleet coordinator', min: 1, max: 600_000 }),
    ready: Flags.boolean({ description: 'with --hold: print READY once everything but the pause is done (the lock, the checks, the intent), then wait for a "start" line on stdin before pausing (a fleet coordinator starts every host\'s pause at once)' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { argv, flags } = await this.parse(Commit)
    // --ready (the server refuses it without --hold): READY comes from the server, once all but the pause is done.
    const hold = [...(flags.hold === undefined ? [] : ['--hold', String(flags.hold)]), ...(flags.ready ? ['--ready'] : [])]
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['commit', ...argv as string[], ...(flags.force ? ['--force'] : []), ...hold],
      flags.hold === undefined ? {} : { stdin: process.stdin })
  }
}
