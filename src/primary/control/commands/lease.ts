// `lease NAME --owner TEXT` on the socket: a named lease of this server held for as long as the
// client's connection stays open (a fleet coordinator's lock, `hotswap lease` over ssh). Its end
// of input, a disconnect, or its client killed (its ssh gone) releases it; nothing is written
// anywhere, so a coordinator killed can never leave it held.
//
//   free ─▶ held (owner, since) ─▶ "LEASED" ─▶ stdin ends or the connection drops ─▶ free
//   held ─▶ HOTSWAP_ERR_FLEET_BUSY naming the owner and since when

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { shown, type ServerContext, type Session } from '../session.js'

interface Lease { owner: string, since: number }

const leases = new WeakMap<ServerContext, Map<string, Lease>>()

function argsOf (s: Session): { name: string, owner: string } {
  let name: string | undefined
  let owner: string | undefined
  const rest = s.args.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    if (a === '--owner') owner = rest[++i]
    else if (a.startsWith('--owner=')) owner = a.slice('--owner='.length)
    else if (a.startsWith('-')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for lease (lease NAME --owner TEXT)`)
    else if (name === undefined) name = a
    else throw new HotswapError('HOTSWAP_ERR_USAGE', `lease takes one NAME (got ${shown(a)} too)`)
  }
  if (name === undefined || !/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new HotswapError('HOTSWAP_ERR_USAGE', `lease NAME: a name of lowercase letters, digits and "-" (got ${name === undefined ? 'nothing' : shown(name)})`)
  if (owner === undefined || owner === '' || owner.length > 200 || /[\0-\x1f\x7f]/.test(owner)) throw new HotswapError('HOTSWAP_ERR_USAGE', 'lease NAME --owner TEXT: who holds it, one line of up to 200 characters')
  return { name, owner }
}

export async function lease (s: Session, ctx: ServerContext): Promise<number> {
  let args
  try {
    args = argsOf(s)
  } catch (err) {
    s.stdin.resume()
    throw err
  }
  const { name, owner } = args
  const held = leases.get(ctx) ?? new Map<string, Lease>()
  leases.set(ctx, held)
  const current = held.get(name)
  if (current !== undefined) {
    s.stdin.resume()
    throw new HotswapError('HOTSWAP_ERR_FLEET_BUSY', `the ${name} lease is held by ${current.owner} since ${new Date(current.since).toISOString()}`)
  }
  const mine: Lease = { owner, since: Date.now() }
  held.set(name, mine)
  s.uploadDone() // No idle time out: it is held as long as the client wants.
  ctx.logger.info(`lease ${name} taken by ${owner}`, { event: 'lease', lease: name, owner })
  try {
    await s.stdout('LEASED\n')
    try {
      for await (const chunk of s.stdin) void chunk // Until the end of input or the connection's end.
    } catch { /* the connection went away */ }
  } finally {
    if (held.get(name) === mine) held.delete(name)
    ctx.logger.info(`lease ${name} of ${owner} released after ${Date.now() - mine.since} ms`, { event: 'lease-released', lease: name, owner })
  }
  return ExitCodes.ok
}
