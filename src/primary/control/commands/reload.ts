// `reload [--parallel N]` on the socket: a rolling restart of the workers onto the app's
// current code (the context's reload takes the swap lock).

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { ServerContext, Session } from '../session.js'

export async function reload (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  let parallel = 1
  const rest = s.args.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    const m = /^--parallel(?:=(.*))?$/.exec(a)
    if (m === null) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${a} for reload`)
    const v = m[1] ?? rest[++i]
    parallel = Number(v)
    if (!Number.isInteger(parallel) || parallel < 1) throw new HotswapError('HOTSWAP_ERR_USAGE', `--parallel takes a positive integer (got ${String(v)})`)
  }
  const r = await ctx.reload(parallel)
  await s.stdout(`reloaded ${r.replaced} worker(s)${r.revived > 0 ? ` and started ${r.revived} given-up slot(s) again` : ''} in ${Math.round(r.ms)} ms\n`)
  return ExitCodes.ok
}
