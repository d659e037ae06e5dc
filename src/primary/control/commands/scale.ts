// `scale N` on the socket: N worker slots from now on (up: the new ones started and ready;
// down: the removed ones drained first). The context's scale takes the swap lock.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { SCALE_USAGE, workerCount } from '../../../shared/worker-count.js'
import type { ServerContext, Session } from '../session.js'

export async function scale (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  const rest = s.args.slice(1)
  if (rest.length !== 1) throw new HotswapError('HOTSWAP_ERR_USAGE', `${SCALE_USAGE}; got ${rest.length} argument(s)`)
  const word = rest[0] as string
  const n = workerCount(word)
  if (n === null) throw new HotswapError('HOTSWAP_ERR_USAGE', `${SCALE_USAGE}; got ${JSON.stringify(word.slice(0, 64))}`)
  const started = performance.now()
  const r = await ctx.scale(n)
  const ms = Math.round(performance.now() - started)
  const what = r.started > 0 ? `${r.started} started` : r.stopped > 0 ? `${r.stopped} drained and stopped` : 'nothing to do'
  await s.stdout(`scaled from ${r.from} to ${r.to} worker(s): ${what}, in ${ms} ms\n`)
  return ExitCodes.ok
}
