// oclif's command_not_found hook. On a terminal (stdin and stdout both), oclif's not-found plugin
// asks "Did you mean status?" and runs it on yes (its prompt gives up after 10 s). Anywhere
// else (a script, a pipe, ssh without -t), and after a no, one usage line names the closest
// command and the exit status is 2: nothing waits for an answer no one can give.

import type { Hook } from '@oclif/core'
import notFoundPrompt from '@oclif/plugin-not-found'
import { reportError } from '../client/output.js'
import { unknownCommandError } from '../client/unknown-command.js'

const hook: Hook<'command_not_found'> = async function (opts) {
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !opts.id.startsWith('-')
  if (interactive) {
    try {
      return await notFoundPrompt.call(this, opts)
    } catch (err) {
      // Declined or timed out: the plugin's own error (exit 127) gives way to the usage line.
      if ((err as { oclif?: { exit?: number } }).oclif?.exit !== 127) throw err
    }
  }
  const visible = opts.config.commands.filter((c) => c.hidden !== true).map((c) => c.id.replaceAll(':', ' '))
  process.exitCode = reportError(unknownCommandError(opts.id, visible, opts.config.bin))
  return undefined
}

export default hook
