// A command that is only its words on the socket (reload, undo, history, commit, abort): sent as
// they are, the server's stdout and stderr printed as they come, its exit status returned.

import { runRemote } from './connection.js'
import { reportError } from './output.js'

export async function remoteCommand (socketPath: string, args: string[]): Promise<number> {
  try {
    const reply = await runRemote({
      socketPath,
      args,
      tty: process.stderr.isTTY === true,
      onStdout: (c) => { process.stdout.write(c) },
      onStderr: (c) => { process.stderr.write(c) },
    })
    return reply.exit
  } catch (err) {
    return reportError(err)
  }
}
