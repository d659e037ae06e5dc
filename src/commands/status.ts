import { Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { socketPath } from '../shared/socket-path.js'
import { reportError } from '../client/output.js'
import { status } from '../client/status.js'

export default class Status extends HotswapCommand {
  static description = 'Show the primary, its workers and its databases'

  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json', '<%= config.bin %> status --check   # exit 3 unless every worker is ready']

  static flags = {
    check: Flags.boolean({ description: 'one line, OK or DEGRADED, and exit 3 unless every worker slot has a ready worker (with --json: the JSON)' }),
    json: Flags.boolean({ description: 'print JSON' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Status)
    try {
      process.exitCode = await status(socketPath(flags.socket), flags.json, flags.check)
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
