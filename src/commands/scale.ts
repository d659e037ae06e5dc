import { Args } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { reportError } from '../client/output.js'
import { remoteCommand } from '../client/remote-command.js'
import { HotswapError } from '../shared/errors.js'
import { socketPath } from '../shared/socket-path.js'
import { SCALE_USAGE, workerCount } from '../shared/worker-count.js'

export default class Scale extends HotswapCommand {
  static args = {
    n: Args.string({ description: 'the number of workers to run from now on', required: true }),
  }

  static description = `Run N workers from now on, with no failed request

Up: the new workers start, and the command returns once they are ready. Down: the workers above N stop getting connections, finish their requests in flight and exit. Scale, reloads and swaps never overlap. Until the next start of serve: --workers (or the config file) still says how many it starts with.`

  static examples = ['<%= config.bin %> scale 8', '<%= config.bin %> scale 2']

  static flags = {
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(Scale)
    if (workerCount(args.n) === null) {
      process.exitCode = reportError(new HotswapError('HOTSWAP_ERR_USAGE', `${SCALE_USAGE}; got ${JSON.stringify(args.n.slice(0, 64))}`))
      return
    }
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['scale', args.n])
  }
}
