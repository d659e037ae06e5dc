import { Args } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class Abort extends HotswapCommand {
  static strict = false

  static args = {
    id: Args.string({ description: 'a stage id printed by cp --stage [default: every staged database]' }),
  }

  static description = 'Drop staged databases: their files are removed and nothing live changes'

  static examples = ['<%= config.bin %> abort', '<%= config.bin %> abort 3f9a2c1b']

  static flags = {
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { argv, flags } = await this.parse(Abort)
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['abort', ...argv as string[]])
  }
}
