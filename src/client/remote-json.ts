// A socket command whose answer is one JSON line (monit, startup): run it, collect its stdout,
// parse it. A refusal is thrown as the coded error the server sent.

import { type ErrorCode, ErrorCodes, HotswapError } from '../shared/errors.js'
import { runRemote } from './connection.js'

export async function remoteJson<T> (socketPath: string, args: string[]): Promise<T> {
  const chunks: Buffer[] = []
  let stderr = ''
  const reply = await runRemote({
    socketPath,
    args,
    tty: false,
    onStdout: (c) => { chunks.push(c) },
    onStderr: (c) => { stderr += c.toString('utf8') },
  })
  if (reply.exit !== 0) {
    const code = reply.code !== undefined && Object.hasOwn(ErrorCodes, reply.code) ? reply.code as ErrorCode : 'HOTSWAP_ERR_INTERNAL'
    throw new HotswapError(code, stderr.trim().replace(/^ERROR \[[A-Z_]+\] /, '') || (reply.error ?? `${args[0] ?? ''} exited ${reply.exit}`))
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T
}
