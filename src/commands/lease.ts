import { Args, Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../client/base-command.js'
import { remoteCommand } from '../client/remote-command.js'
import { socketPath } from '../shared/socket-path.js'

export default class Lease extends HotswapCommand {
  static hidden = true

  static args = {
    name: Args.string({ description: 'the lease (fleet: the lock of the fleet commands)', required: true }),
  }

  static description = `Hold a named lease of the server for as long as this command's input stays open (a fleet coordinator's lock, run over ssh)

Prints LEASED once held; the end of its input, or this process killed, releases it; with --ttl MS, so does no line on its input for MS. Held by someone else: HOTSWAP_ERR_FLEET_BUSY naming them.`

  static examples = ['<%= config.bin %> lease fleet --owner "alice@laptop pid 4242"']

  static flags = {
    owner: Flags.string({ description: 'who holds it (shown to whoever finds it held)', required: true }),
    socket: socketFlag,
    ttl: Flags.integer({ description: 'release it when no line comes on the input for this long (ms): the holder sends one as a heartbeat', min: 1000, max: 600_000 }),
  }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(Lease)
    process.exitCode = await remoteCommand(socketPath(flags.socket), ['lease', args.name, '--owner', flags.owner, ...(flags.ttl === undefined ? [] : ['--ttl', String(flags.ttl)])], { stdin: process.stdin })
  }
}
