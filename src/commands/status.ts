import { Flags } from '@oclif/core'
import { HotswapCommand } from '../client/base-command.js'
import { reportError } from '../client/output.js'
import { status } from '../client/status.js'
import { defaultSocketPath } from '../primary/serve.js'

export default class Status extends HotswapCommand {
  static description = 'Show the primary, its workers and its databases'

  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']

  static flags = {
    json: Flags.boolean({ description: 'print JSON' }),
    socket: Flags.string({ description: 'control socket path [default: $HOTSWAP_SOCKET or tmp/sockets/hotswap.sock]' }),
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Status)
    try {
      process.exitCode = await status(flags.socket ?? defaultSocketPath(), flags.json)
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
