import { runRemote } from './connection.js'

/** `hotswap status [--json] [--check]`: the server's own report, printed as it comes; --check's exit status is the server's. */
export async function status (socketPath: string, json: boolean, check = false): Promise<number> {
  const reply = await runRemote({
    socketPath,
    args: ['status', ...(json ? ['--json'] : []), ...(check ? ['--check'] : [])],
    tty: process.stdout.isTTY === true,
    onStdout: (c) => { process.stdout.write(c) },
    onStderr: (c) => { process.stderr.write(c) },
  })
  return reply.exit
}
