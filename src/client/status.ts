import { runRemote } from './connection.js'

/** `hotswap status [--json]`: the server's own report, printed as it comes. */
export async function status (socketPath: string, json: boolean): Promise<number> {
  const reply = await runRemote({
    socketPath,
    args: json ? ['status', '--json'] : ['status'],
    tty: process.stdout.isTTY === true,
    onStdout: (c) => { process.stdout.write(c) },
    onStderr: (c) => { process.stderr.write(c) },
  })
  return reply.exit
}
