import { Args } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { fleetReportFlags, runOnFleet } from '../../client/fleet/flags.js'
import { fleetHistory } from '../../client/fleet/history.js'

export default class FleetHistory extends HotswapCommand {
  static args = {
    live: Args.string({ description: 'the managed database on every host (its path there, or its NAME)', required: true }),
  }

  static description = `Show the generations of a database on every host of a fleet, merged by digest

One row per file (its SHA-256), newest first: which hosts keep it, as which generation, and where it is live; then whether the hosts agree. Exits 1 when a host is unreachable or the hosts do not serve the same live file.`

  static examples = ['<%= config.bin %> fleet history db/catalog.sqlite3 --hosts web1,web2,web3', '<%= config.bin %> fleet history catalog --json']

  static flags = fleetReportFlags

  async run (): Promise<void> {
    const { args, flags } = await this.parse(FleetHistory)
    await runOnFleet(flags, async (settings) => await fleetHistory(settings, args.live, flags.json))
  }
}
