import { Args, Flags } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { fleetSettings } from '../../client/fleet/config.js'
import { fleetFlags, fleetFlagsOf } from '../../client/fleet/flags.js'
import { fleetUndo } from '../../client/fleet/undo.js'
import { reportError } from '../../client/output.js'

export default class FleetUndo extends HotswapCommand {
  static args = {
    live: Args.string({ description: 'the managed database on every host (its path there, or its NAME)', required: true }),
  }

  static description = `Put every host of a fleet back on its previous generation together, or none

Refused, nothing changed, unless every host's previous generation has the same digest. Then the same protocol as fleet cp: the decision recorded, every host paused, and only when all are paused does any switch.`

  static examples = ['<%= config.bin %> fleet undo db/catalog.sqlite3 --hosts web1,web2,web3']

  static flags = {
    ...fleetFlags,
    hold: Flags.integer({ description: 'how long each host stays paused waiting for the others, in ms [default: "fleet.hold", else 10000]', min: 1, max: 600_000 }),
  }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(FleetUndo)
    try {
      process.exitCode = await fleetUndo(await fleetSettings(process.cwd(), fleetFlagsOf(flags)), args.live)
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
