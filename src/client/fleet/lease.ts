// The fleet-wide lock: one `hotswap lease fleet --owner …` held open over ssh on every host for
// the whole of a fleet command (cp, undo, recover), so that two operators, from one machine or
// two, never run fleet commands on the same hosts at once. The host's server holds it while the
// session lasts (primary/control/commands/lease.ts): a coordinator killed closes its ssh's
// input, and the lease goes with it. Nothing to clean up, nothing written. A heartbeat line every
// LEASE_TTL_MS / 5 keeps it: a host that was cut off while its coordinator died (its sshd may
// keep that session for hours) frees it LEASE_TTL_MS after the last one came through.
//
//   hosts sorted by name ─▶ the first host's lease (every contender asks for it first)
//     ─▶ then the others' at once ─▶ every "LEASED" ─▶ the command ─▶ release: input ended
//   any host answers FLEET_BUSY ─▶ every lease taken released ─▶ HOTSWAP_ERR_FLEET_BUSY (who, since)
//   a host that cannot be reached at all is not leased: the command's first step fails on it

import { hostname, userInfo } from 'node:os'
import { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import { failureOf, hostLines } from './reasons.js'
import { collect, type RemoteResult, type Ssh } from './ssh.js'

interface Held { host: FleetHost, end: () => void, done: Promise<RemoteResult> }

/** How long a host keeps the lease without a heartbeat from its holder. */
export const LEASE_TTL_MS = 10_000

/** Who we are, as the busy message shows it to another operator. */
export function leaseOwner (command: string): string {
  let user = 'unknown'
  try { user = userInfo().username } catch { /* no passwd entry */ }
  return `${user}@${hostname()} pid ${process.pid} (fleet ${command})`
}

async function leaseOn (ssh: Ssh, host: FleetHost, owner: string): Promise<Held | HotswapError> {
  let child
  try {
    child = await ssh.spawn(host, ['lease', 'fleet', '--owner', owner, '--ttl', String(LEASE_TTL_MS)])
  } catch (err) {
    return err instanceof HotswapError ? err : new HotswapError('HOTSWAP_ERR_UNREACHABLE', `lease: ${(err as Error).message}`)
  }
  child.stdin.on('error', () => {})
  let out = ''
  const leased = new Promise<boolean>((resolve) => {
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (/^LEASED$/m.test(out)) resolve(true) })
    child.once('exit', () => resolve(false))
  })
  // Held for as long as the command runs: its time out is only the release's.
  const done = collect(child, 2 ** 31 - 1)
  const heartbeat = setInterval(() => { child.stdin.write('\n') }, LEASE_TTL_MS / 5)
  heartbeat.unref()
  void done.then(() => clearInterval(heartbeat))
  const held: Held = { host, end: () => { clearInterval(heartbeat); child.stdin.end() }, done }
  const timer = setTimeout(() => { child.kill('SIGTERM') }, ssh.timeoutMs)
  const ok = await leased
  clearTimeout(timer)
  if (ok) return held
  const r = await done
  return failureOf({ ...r, timedOut: r.code === null && r.ms >= ssh.timeoutMs }, 'lease')
}

export class FleetLease {
  readonly #held: Held[]

  private constructor (held: Held[]) {
    this.#held = held
  }

  /** Every host's lease, or none: HOTSWAP_ERR_FLEET_BUSY naming who holds the ones that are held. */
  static async take (ssh: Ssh, hosts: FleetHost[], command: string): Promise<FleetLease> {
    const owner = leaseOwner(command)
    const [first, ...rest] = [...hosts].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    const results = first === undefined ? [] : [await leaseOn(ssh, first, owner)]
    if (!(results[0] instanceof HotswapError && results[0].code === 'HOTSWAP_ERR_FLEET_BUSY')) {
      results.push(...await Promise.all(rest.map(async (h) => await leaseOn(ssh, h, owner))))
    }
    const lease = new FleetLease(results.filter((r): r is Held => !(r instanceof HotswapError)))
    const busy = results.flatMap((r, i) => r instanceof HotswapError && r.code === 'HOTSWAP_ERR_FLEET_BUSY' ? [{ host: (i === 0 ? first : rest[i - 1]) as FleetHost, err: r }] : [])
    if (busy.length > 0) {
      await lease.release()
      const [one] = busy
      throw new HotswapError('HOTSWAP_ERR_FLEET_BUSY',
        `fleet ${command}: another fleet command runs on ${busy.map((b) => b.host.name).join(', ')} (${one?.err.message.replace(/^lease: the fleet lease is /, '') ?? ''}); nothing was done, try again when it ends`,
        busy.flatMap((b) => hostLines(b.host.name, b.err)))
    }
    return lease
  }

  /** Every lease released, each host's session waited for (briefly), so a next command finds them free. */
  async release (): Promise<void> {
    for (const h of this.#held) h.end()
    await Promise.all(this.#held.map(async (h) => await Promise.race([h.done, new Promise((resolve) => setTimeout(resolve, 5_000).unref())])))
  }
}
