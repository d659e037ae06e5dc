import { Args, Flags } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { fleetSettings } from '../../client/fleet/config.js'
import { fleetCp } from '../../client/fleet/cp.js'
import { fleetFlags, fleetFlagsOf } from '../../client/fleet/flags.js'
import { reportError } from '../../client/output.js'

export default class FleetCp extends HotswapCommand {
  static args = {
    src: Args.string({ description: 'the new database file (- for stdin)', required: true }),
    live: Args.string({ description: 'the managed database on every host (its path there, or its NAME)', required: true }),
  }

  static description = `Replace a database on every host of a fleet, all of them or none

Each host receives and checks the file as a push and keeps it staged; when every host staged the same file, the decision is recorded in .hotswap/fleet/, every host pauses, and only when all are paused does any install. A refusal, an unreachable host or a time out aborts every stage: nothing changes anywhere.`

  static examples = [
    '<%= config.bin %> fleet cp build/catalog.sqlite3 db/catalog.sqlite3 --hosts web1,web2,web3',
    '<%= config.bin %> fleet cp build/catalog.sqlite3 catalog',
  ]

  static flags = {
    ...fleetFlags,
    hold: Flags.integer({ description: 'how long each host stays paused waiting for the others, in ms [default: "fleet.hold", else 10000]', min: 1, max: 600_000 }),
    'skip-integrity-check': Flags.boolean({ description: 'do not run PRAGMA integrity_check on the hosts' }),
    'skip-schema-check': Flags.boolean({ description: 'allow a schema that differs from the live ones' }),
  }

  async run (): Promise<void> {
    const { args, flags } = await this.parse(FleetCp)
    try {
      const settings = await fleetSettings(process.cwd(), fleetFlagsOf(flags))
      process.exitCode = await fleetCp({
        src: args.src, live: args.live, settings, cwd: process.cwd(), skipIntegrityCheck: flags['skip-integrity-check'], skipSchemaCheck: flags['skip-schema-check'],
      })
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
