// A command that is only its words on the socket (reload, undo, history, commit, abort): sent as
// they are, the server's stdout and stderr printed as they come, its exit status returned.
// `quiet`: the server's stdout is dropped (a clean-up step, such as the abort after a refused
// swap, must not print the OK of its own success in place of the refusal's silence).

import type { Readable } from 'node:stream'
import { runRemote } from './connection.js'
import { reportError } from './output.js'

/** `stdin`, when given, is sent as stdin frames (a held commit's go line). */
export async function remoteCommand (socketPath: string, args: string[], opts: { quiet?: boolean, stdin?: Readable } = {}): Promise<number> {
  const { stdin } = opts
  try {
    const reply = await runRemote({
      socketPath,
      args,
      ...(stdin === undefined ? {} : { stdin }),
      tty: process.stderr.isTTY === true,
      onStdout: (c) => { if (opts.quiet !== true) process.stdout.write(c) },
      onStderr: (c) => { process.stderr.write(c) },
    })
    return reply.exit
  } catch (err) {
    return reportError(err)
  }
}
