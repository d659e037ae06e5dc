import { Flags } from '@oclif/core'
import { HotswapCommand } from '../client/base-command.js'
import { VERSION } from '../shared/version.js'

export default class Version extends HotswapCommand {
  static description = 'Print the hotswap version'

  static examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']

  static flags = {
    json: Flags.boolean({ description: 'print JSON' }),
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(Version)
    process.stdout.write(flags.json ? JSON.stringify({ version: VERSION, node: process.version }) + '\n' : `hotswap ${VERSION}\n`)
  }
}
