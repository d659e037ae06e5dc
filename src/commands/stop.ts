import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class Stop extends HotswapCommand {
  static description = `Shut the server down gracefully, and wait until it has

What SIGTERM does: a swap or reload in progress finishes, every worker finishes its requests in flight and exits, the socket file is removed. Prints OK once the primary is done and exiting (it exits 0).`

  static examples = ['<%= config.bin %> stop']

  static flags = {
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Stop)
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['stop'])
  }
}
