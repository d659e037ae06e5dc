import { Args } from '@oclif/core'
import { HotswapCommand } from '../../client/base-command.js'
import { reportError } from '../../client/output.js'
import { HotswapError } from '../../shared/errors.js'

/** `hotswap startup INIT`: systemd is the one init system a unit is printed for. */
export default class Startup extends HotswapCommand {
  static description = 'Start the running server at boot: `hotswap startup systemd` prints a unit for it'

  static examples = ['<%= config.bin %> startup systemd > myapp.service']

  static args = {
    init: Args.string({ description: 'the init system (systemd)' }),
  }

  async run (): Promise<void> {
    const { args } = await this.parse(Startup)
    process.exitCode = reportError(new HotswapError('HOTSWAP_ERR_USAGE', args.init === undefined
      ? 'startup needs the init system: hotswap startup systemd'
      : `startup knows systemd only (got ${JSON.stringify(args.init)}): hotswap startup systemd`))
  }
}
