import { basename } from 'node:path'
import { Flags } from '@oclif/core'
import { HotswapCommand, socketFlag } from '../../client/base-command.js'
import { reportError } from '../../client/output.js'
import { remoteJson } from '../../client/remote-json.js'
import { UNIT_NAME, unitFor } from '../../client/startup/systemd.js'
import { HotswapError } from '../../shared/errors.js'
import { socketPath } from '../../shared/socket-path.js'
import type { StartupInfo } from '../../shared/startup-info.js'

export default class StartupSystemd extends HotswapCommand {
  static description = `Print a systemd unit that starts the running server as it was started

Asks the server on the socket how it was started (node, the CLI, its arguments, working directory and user) and prints a unit on stdout: the control socket in the unit's RuntimeDirectory, ExecReload waiting for \`hotswap reload\`, ExecStop for \`hotswap stop\`, Restart=on-failure. How to install it goes to stderr.`

  static examples = [
    '<%= config.bin %> startup systemd > myapp.service',
    '<%= config.bin %> startup systemd --name myapp --user myapp --socket tmp/sockets/hotswap.sock',
  ]

  static flags = {
    name: Flags.string({ description: 'the unit\'s name, and its RuntimeDirectory /run/NAME [default: the working directory\'s name]' }),
    user: Flags.string({ description: 'User= of the unit [default: the server\'s user]' }),
    socket: socketFlag,
  }

  async run (): Promise<void> {
    const { flags } = await this.parse(StartupSystemd)
    try {
      if (flags.name !== undefined && !UNIT_NAME.test(flags.name)) {
        throw new HotswapError('HOTSWAP_ERR_USAGE', `--name must be a unit name: letters, digits, _ . and -, starting with a letter or digit (got ${JSON.stringify(flags.name)})`)
      }
      if (flags.user !== undefined && !/^[a-z_][a-z0-9_-]*\$?$/i.test(flags.user)) {
        throw new HotswapError('HOTSWAP_ERR_USAGE', `--user must be a user name (got ${JSON.stringify(flags.user)})`)
      }
      const info = await remoteJson<StartupInfo>(socketPath(flags.socket), ['startup'])
      const fallback = basename(info.cwd).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '')
      const name = flags.name ?? (fallback === '' ? 'hotswap' : fallback)
      process.stdout.write(unitFor(info, { name, ...(flags.user === undefined ? {} : { user: flags.user }) }))
      process.stderr.write(`# install: save it as /etc/systemd/system/${name}.service, then\n#   systemctl daemon-reload && systemctl enable --now ${name}\n` +
        `# (stop the server started by hand first: a database is served by one server at a time)\n`)
    } catch (err) {
      process.exitCode = reportError(err)
    }
  }
}
