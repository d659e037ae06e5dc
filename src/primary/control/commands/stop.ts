// `stop` on the socket: the graceful shutdown SIGTERM starts (a swap or reload in progress
// finishes, every worker drains and exits, the socket file is removed), answered with OK once it
// is done and the primary is about to exit: the client that asked returns after the shutdown.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { ServerContext, Session } from '../session.js'

export async function stop (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  if (s.args.length > 1) throw new HotswapError('HOTSWAP_ERR_USAGE', `stop takes no argument (got ${JSON.stringify((s.args[1] ?? '').slice(0, 64))})`)
  await ctx.stop()
  await s.stdout('OK\n')
  return ExitCodes.ok
}
