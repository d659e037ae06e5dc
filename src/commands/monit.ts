import { Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { socketPath } from '../shared/socket-path.js'
import { reportError } from '../client/output.js'

export default class Monit extends HotswapCommand {
  static description = `A live view of the server on a terminal: workers (pid, state, CPU, memory, req/s, in flight, restarts), databases (size, journal mode, generation, the last swaps' pauses) and the latest events

q or Ctrl-C quits; ↑/↓ (or j/k, or 1-9) pick a worker, whose lines the log pane then shows; a shows every worker's again. Asks the server once per refresh over the control socket.`

  static examples = ['<%= config.bin %> monit', '<%= config.bin %> monit --interval 2000 --socket /run/myapp/hotswap.sock']

  static flags = {
    interval: Flags.integer({ description: 'refresh every this many ms', default: 1000, min: 200, max: 60_000 }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Monit)
    try {
      // Loaded here only: ink and react are for this command, not every command's start-up.
      const { monit } = await import('../client/monit/monit.js')
      process.exitCode = await monit({ socketPath: socketPath(flags.socket), intervalMs: flags.interval })
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
