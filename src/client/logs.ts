// `hotswap logs`: the server's recent records, then (--follow) the new ones as they come. The
// server formats them (JSON lines with --json); this side prints them, and ends quietly with
// exit 0 on Ctrl-C, on a closed pipe (`hotswap logs -f | head`) and when the server stops.

import { forwardStdout, runRemote } from './connection.js'
import { ExitCodes } from '../shared/errors.js'

export interface LogsFlags {
  lines?: number | undefined
  follow: boolean
  worker?: number | undefined
  json: boolean
}

export function logsArgs (f: LogsFlags): string[] {
  return ['logs',
    ...(f.lines === undefined ? [] : ['--lines', String(f.lines)]),
    ...(f.follow ? ['--follow'] : []),
    ...(f.worker === undefined ? [] : ['--worker', String(f.worker)]),
    ...(f.json ? ['--json'] : [])]
}

export async function logs (socketPath: string, f: LogsFlags): Promise<number> {
  // Following ends when the reader says so: what was printed is all there is to print (stdout
  // writes to a terminal, a file or a pipe are synchronous on Linux), so leave at once.
  const stop = (): void => process.exit(ExitCodes.ok)
  const closedPipe = (err: NodeJS.ErrnoException): void => { if (err.code === 'EPIPE') stop() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  process.stdout.on('error', closedPipe)
  try {
    const reply = await runRemote({
      socketPath,
      args: logsArgs(f),
      tty: process.stdout.isTTY === true,
      onStdout: forwardStdout,
      onStderr: (c) => { process.stderr.write(c) },
    })
    return reply.exit
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    process.stdout.off('error', closedPipe)
  }
}
