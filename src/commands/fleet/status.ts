import { Args } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { fleetReportFlags, runOnFleet } from '../../client/fleet/flags.js'
import { fleetStatus } from '../../client/fleet/status.js'

export default class FleetStatus extends HotswapCommand {
  static args = {
    live: Args.string({ description: 'a managed database (its path on the hosts, or its NAME) [default: every one]' }),
  }

  static description = `Show every host of a fleet: reachable, its live generation and digest, its workers; and whether the fleet agrees

Exits 1 when a host is unreachable or the hosts do not serve the same live file.`

  static examples = ['<%= config.bin %> fleet status --hosts web1,web2,web3', '<%= config.bin %> fleet status catalog --json']

  static flags = fleetReportFlags

  async run (): Promise<void> {
    const { args, flags } = await this.parse(FleetStatus)
    await runOnFleet(flags, async (settings) => await fleetStatus(settings, args.live, flags.json))
  }
}
