// A command that is only its words on the socket (reload, undo, history, commit, abort): sent as
// they are, the server's stdout and stderr printed as they come, its exit status returned.

import type { Readable } from 'node:stream'
import { runRemote } from './connection.js'
import { reportError } from './output.js'

/** `stdin`, when given, is sent as stdin frames (a held commit's go line). */
export async function remoteCommand (socketPath: string, args: string[], stdin?: Readable): Promise<number> {
  try {
    const reply = await runRemote({
      socketPath,
      args,
      ...(stdin === undefined ? {} : { stdin }),
      tty: process.stderr.isTTY === true,
      onStdout: (c) => { process.stdout.write(c) },
      onStderr: (c) => { process.stderr.write(c) },
    })
    return reply.exit
  } catch (err) {
    return reportError(err)
  }
}
