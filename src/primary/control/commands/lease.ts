// `lease NAME --owner TEXT` on the socket: a named lease of this server held for as long as the
// client's connection stays open (a fleet coordinator's lock, `hotswap lease` over ssh). Its end
// of input, a disconnect, or its client killed (its ssh gone) releases it; nothing is written
// anywhere, so a coordinator killed can never leave it held. With `--ttl MS` its holder must
// also send a line at least every MS: a coordinator killed while this host was cut off leaves an
// ssh session that sshd may keep open for hours, and no heartbeat comes through it.
//
//   free ─▶ held (owner, since) ─▶ "LEASED" ─▶ stdin ends, the connection drops, or no line for --ttl ─▶ free
//   held ─▶ HOTSWAP_ERR_FLEET_BUSY naming the owner and since when

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { shown, type ServerContext, type Session } from '../session.js'

interface Lease { owner: string, since: number }

const leases = new WeakMap<ServerContext, Map<string, Lease>>()

function argsOf (s: Session): { name: string, owner: string, ttlMs?: number } {
  let name: string | undefined
  let owner: string | undefined
  let ttl: string | undefined
  const rest = s.args.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    if (a === '--owner') owner = rest[++i]
    else if (a.startsWith('--owner=')) owner = a.slice('--owner='.length)
    else if (a === '--ttl') ttl = rest[++i] ?? ''
    else if (a.startsWith('--ttl=')) ttl = a.slice('--ttl='.length)
    else if (a.startsWith('-')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for lease (lease NAME --owner TEXT)`)
    else if (name === undefined) name = a
    else throw new HotswapError('HOTSWAP_ERR_USAGE', `lease takes one NAME (got ${shown(a)} too)`)
  }
  if (name === undefined || !/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new HotswapError('HOTSWAP_ERR_USAGE', `lease NAME: a name of lowercase letters, digits and "-" (got ${name === undefined ? 'nothing' : shown(name)})`)
  if (owner === undefined || owner === '' || owner.length > 200 || /[\0-\x1f\x7f]/.test(owner)) throw new HotswapError('HOTSWAP_ERR_USAGE', 'lease NAME --owner TEXT: who holds it, one line of up to 200 characters')
  if (ttl === undefined) return { name, owner }
  const ttlMs = /^\d{1,7}$/.test(ttl) ? Number(ttl) : NaN
  if (!(ttlMs >= 1000 && ttlMs <= 600_000)) throw new HotswapError('HOTSWAP_ERR_USAGE', `lease --ttl takes milliseconds, 1000 to 600000 (got ${shown(ttl)})`)
  return { name, owner, ttlMs }
}

/** Resolves at the end of input or of the connection, or (with `ttlMs`) once no data came for that long: true then. */
async function heldUntil (s: Session, ttlMs: number | undefined): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const done = (expired: boolean): void => {
      clearTimeout(timer)
      s.stdin.off('data', arm)
      resolve(expired)
    }
    function arm (): void {
      if (ttlMs === undefined) return
      clearTimeout(timer)
      timer = setTimeout(() => done(true), ttlMs)
    }
    arm()
    s.stdin.on('data', arm)
    for (const event of ['end', 'close', 'error']) s.stdin.once(event, () => done(false))
  })
}

export async function lease (s: Session, ctx: ServerContext): Promise<number> {
  let args
  try {
    args = argsOf(s)
  } catch (err) {
    s.stdin.resume()
    throw err
  }
  const { name, owner, ttlMs } = args
  const held = leases.get(ctx) ?? new Map<string, Lease>()
  leases.set(ctx, held)
  const current = held.get(name)
  if (current !== undefined) {
    s.stdin.resume()
    throw new HotswapError('HOTSWAP_ERR_FLEET_BUSY', `the ${name} lease is held by ${current.owner} since ${new Date(current.since).toISOString()}`)
  }
  const mine: Lease = { owner, since: Date.now() }
  let expired = false
  held.set(name, mine)
  s.uploadDone() // No idle time out: it is held as long as the client wants.
  ctx.logger.info(`lease ${name} taken by ${owner}`, { event: 'lease', lease: name, owner })
  try {
    await s.stdout('LEASED\n')
    expired = await heldUntil(s, ttlMs)
  } finally {
    if (held.get(name) === mine) held.delete(name)
    ctx.logger.info(`lease ${name} of ${owner} ${expired ? `expired: no heartbeat for ${ttlMs ?? 0} ms` : 'released'} after ${Date.now() - mine.since} ms`, { event: 'lease-released', lease: name, owner, expired })
  }
  if (expired) throw new HotswapError('HOTSWAP_ERR_FLEET_TIMEOUT', `the ${name} lease of ${owner} expired: no line on its input for ${ttlMs ?? 0} ms (--ttl); it is free again`)
  return ExitCodes.ok
}
