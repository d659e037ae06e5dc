import { Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { logs } from '../client/logs.js'
import { reportError } from '../client/output.js'
import { socketPath } from '../shared/socket-path.js'

export default class Logs extends HotswapCommand {
  static description = `Print the server's recent log records, and with --follow the new ones as they come

The primary's own records, every worker's and the apps' output (one record per stack trace, JSON lines of pino or winston merged), from a ring of the last 1000 the primary keeps. --follow ends on Ctrl-C and when the server stops, with exit 0.`

  static examples = [
    '<%= config.bin %> logs',
    '<%= config.bin %> logs --follow --worker 2',
    '<%= config.bin %> logs --lines 200 --json | jq .message',
  ]

  static flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new records as they come' }),
    json: Flags.boolean({ description: 'print each record as one JSON line, as the log file has it' }),
    lines: Flags.integer({ char: 'n', description: 'how many recent records to print first [default: 20]', min: 0 }),
    socket: socketFlag,
    worker: Flags.integer({ char: 'w', description: 'only the records of worker N (its slot, 1 to --workers)', min: 1 }),
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Logs)
    try {
      process.exitCode = await logs(socketPath(flags.socket), { lines: flags.lines, follow: flags.follow, worker: flags.worker, json: flags.json })
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
