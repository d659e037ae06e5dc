import { Args } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { fleetSettings } from '../../client/fleet/config.js'
import { fleetFlags, fleetFlagsOf } from '../../client/fleet/flags.js'
import { fleetRecover } from '../../client/fleet/recover.js'
import { reportError } from '../../client/output.js'

export default class FleetRecover extends HotswapCommand {
  static args = {
    decision: Args.string({ description: 'a decision id (.hotswap/fleet/ID.json) [default: every unfinished one]' }),
  }

  static description = `Finish the fleet decisions a killed coordinator left unfinished

Reads each unfinished record in .hotswap/fleet/ and asks every host its live digest and its stages: forward (each host commits its stage) where every host that has not switched still has it, else back (the switched hosts undone). Exits 0 once the fleet is consistent; HOTSWAP_ERR_FLEET_SPLIT when it cannot be made so.`

  static examples = ['<%= config.bin %> fleet recover', '<%= config.bin %> fleet recover 20260101T120000Z-1a2b3c4d']

  static flags = { ...fleetFlags }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(FleetRecover)
    try {
      process.exitCode = await fleetRecover(await fleetSettings(process.cwd(), fleetFlagsOf(flags), { hostsOptional: true }), args.decision)
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
