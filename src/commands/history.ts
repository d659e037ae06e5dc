import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class History extends HotswapCommand {
  static strict = false

  static args = {
    db: Args.string({ description: 'a managed database (path or NAME) [default: every one]' }),
  }

  static description = `List the generations of each database, newest first, the live one marked

Each with its id, when it went live, its size, its SHA-256, the pause that made it live and where it came from; then what is staged.`

  static examples = ['<%= config.bin %> history', '<%= config.bin %> history production --json']

  static flags = {
    json: Flags.boolean({ description: 'print JSON' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { argv, flags } = await this.parse(History)
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['history', ...argv as string[], ...(flags.json ? ['--json'] : [])])
  }
}
