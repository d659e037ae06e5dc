import { Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { socketPath } from '../shared/socket-path.js'
import { runRemote } from '../client/connection.js'
import { reportError } from '../client/output.js'

export default class Reload extends HotswapCommand {
  static description = `Rolling restart of every worker onto the app's current code, with no failed request

Each replacement starts and must become ready before its old worker stops routing, drains and exits. If a replacement never becomes ready, the old workers keep serving and the command exits non-zero. A worker slot the crash-loop guard gave up is started again first. SIGHUP to the primary does the same. Reloads and swaps never overlap.`

  static examples = ['<%= config.bin %> reload', '<%= config.bin %> reload --parallel 2']

  static flags = {
    parallel: Flags.integer({ description: 'how many workers are replaced at a time', default: 1, min: 1 }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Reload)
    try {
      const reply = await runRemote({
        socketPath: socketPath(flags.socket),
        args: ['reload', '--parallel', String(flags.parallel)],
        tty: process.stderr.isTTY === true,
        onStdout: (c) => { process.stdout.write(c) },
        onStderr: (c) => { process.stderr.write(c) },
      })
      process.exitCode = reply.exit
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
