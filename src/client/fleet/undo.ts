// `hotswap fleet undo LIVE`: every host back to its previous generation together, or none.
//
//   no unfinished decision of LIVE ─▶ the fleet's lease ─▶ every host's history LIVE --json:
//     its live generation (from) and its previous one (to, the newest kept), their digests
//       └─ a host unreachable, with no previous generation, or previous digests that differ
//          ─▶ HOTSWAP_ERR_FLEET_UNDO_REFUSED, a line per host                (nothing changed)
//   record the decision (kind undo, each host's from and to; fsynced)
//   held `undo LIVE --to G --hold MS --ready` on every host (switch.ts): all READY ─▶ start
//     ─▶ all PAUSED ─▶ go to all ─▶ each OK            (one fails before: abort to all, unchanged)
//   a host that fails after the go ─▶ its undo again (no hold) ─▶ still not? the hosts that went
//     back go forward again (`undo --to FROM`) ─▶ HOTSWAP_ERR_FLEET_UNDONE (or SPLIT)

import { ExitCodes, HotswapError } from '../../shared/errors.js'
import { reportError } from '../output.js'
import type { FleetHost, FleetSettings } from './config.js'
import { Decision } from './decision.js'
import { FleetLease } from './lease.js'
import { failureOf, hostLines } from './reasons.js'
import { refuseUnfinished } from './recover.js'
import { Ssh } from './ssh.js'
import { historyOn } from './stage.js'
import { viaLine } from './summary.js'
import { all, goAll, heldFailure, holdOn, startAll, type Held } from './switch.js'

interface Back { host: FleetHost, name?: string, from: number, fromDigest: string | null, to?: number, toDigest?: string | null }

const short = (digest: string | null | undefined): string => digest == null ? 'digest unknown' : digest.slice(0, 19)

async function previousOn (ssh: Ssh, host: FleetHost, live: string): Promise<Back | HotswapError> {
  try {
    const [db] = await historyOn(ssh, host, live)
    if (db === undefined) return new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: the host lists no database ${live}`)
    const gens = db.generations ?? []
    const cur = gens.find((g) => g.id === db.live)
    // Newest first: the previous generation is the first kept one.
    const prev = gens.find((g) => g.id !== db.live)
    return { host, ...(typeof db.name === 'string' ? { name: db.name } : {}), from: db.live ?? 0, fromDigest: cur?.digest ?? null, to: prev?.id, toDigest: prev?.digest ?? null }
  } catch (err) {
    return err instanceof HotswapError ? err : new HotswapError('HOTSWAP_ERR_INTERNAL', (err as Error).message)
  }
}

export async function fleetUndo (settings: FleetSettings, live: string): Promise<number> {
  try {
    refuseUnfinished(settings.stateDir, live, 'undo')
    const ssh = new Ssh({ sshConfig: settings.sshConfig, timeoutMs: settings.timeoutMs })
    const lease = await FleetLease.take(ssh, settings.hosts, 'undo')
    try {
      refuseUnfinished(settings.stateDir, live, 'undo')
      return await undoAll(ssh, settings, live)
    } finally {
      await lease.release()
    }
  } catch (err) {
    return reportError(err)
  }
}

async function undoAll (ssh: Ssh, settings: FleetSettings, live: string): Promise<number> {
  const found = await Promise.all(settings.hosts.map(async (h) => await previousOn(ssh, h, live)))
  const backs = found.filter((b): b is Back => !(b instanceof HotswapError))
  const targets = new Set(backs.map((b) => b.toDigest ?? 'none'))
  const [target] = targets
  if (backs.length < found.length || targets.size !== 1 || target === 'none') {
    const lines = found.flatMap((b, i) => b instanceof HotswapError
      ? hostLines((settings.hosts[i] as FleetHost).name, b)
      : [`${b.host.name}: generation ${b.from} (${short(b.fromDigest)}), ${b.to === undefined ? 'no previous generation kept' : `previous ${b.to} (${short(b.toDigest)})`}`])
    const why = backs.length < found.length ? 'not every host could be asked' : backs.some((b) => b.to === undefined) ? 'a host keeps no previous generation' : 'the hosts\' previous generations differ'
    throw new HotswapError('HOTSWAP_ERR_FLEET_UNDO_REFUSED', `fleet undo of ${live}: ${why}; nothing changed on any host`, lines)
  }
  const digest = target as string
  const decision = Decision.create(settings.stateDir, {
    decision: 'undo', live, digest, hosts: backs.map((b) => ({ name: b.host.name, remote: b.host.remote, stage: '', checkedAgainst: b.from, from: b.from, to: b.to as number })),
  })
  // By its name on the host: a path would be read against this directory when sent on the socket.
  const held: Held[] = await Promise.all(backs.map(async (b) => await holdOn(ssh, b.host, '', settings.holdMs, ['undo', b.name ?? live, '--to', String(b.to)])))
  const ready = await all(held, 'ready', ssh.timeoutMs)
  if (!ready || !await startAll(held, ssh.timeoutMs) || !await all(held, 'paused', ssh.timeoutMs)) {
    for (const h of held) h.abort()
    const results = await Promise.all(held.map(async (h) => await h.done))
    const lines = held.flatMap((h, i) => {
      const failure = heldFailure(results[i] as Awaited<Held['done']>, h)
      return h.pausedAt !== undefined || failure === undefined || failure.code === 'HOTSWAP_ERR_ABORTED' ? [`${h.host.name}: told to abort: resumed unchanged`] : hostLines(h.host.name, failure)
    })
    decision.update('aborted', Object.fromEntries(held.map((h) => [h.host.name, 'not switched'])))
    throw new HotswapError('HOTSWAP_ERR_FLEET_REFUSED', `fleet undo of ${live}: not every host paused; every host resumed unchanged, nothing changed on any host`, lines)
  }
  const results = await goAll(held)
  const outcomes: Record<string, string> = {}
  const lines: string[] = []
  await Promise.all(held.map(async (h, i) => {
    const failure = heldFailure(results[i] as Awaited<Held['done']>, h)
    if (failure === undefined) { outcomes[h.host.name] = 'switched'; return }
    const b = backs[i] as Back
    const again = await ssh.run(h.host, ['undo', live, '--to', String(b.to)])
    const now = again.code === 0 ? undefined : await previousOn(ssh, h.host, live)
    if (again.code === 0 || (!(now instanceof HotswapError) && now?.fromDigest === digest)) outcomes[h.host.name] = 'switched on a retry'
    else lines.push(...hostLines(h.host.name, failure), ...hostLines(`  ${h.host.name} (retried)`, failureOf(again, 'undo')))
  }))
  const stuck = backs.filter((b) => outcomes[b.host.name] === undefined)
  if (stuck.length === 0) {
    decision.update('committed', outcomes)
    process.stderr.write(`fleet undo of ${live}: ${backs.length} hosts back to ${short(digest)} (${backs.map((b) => `${b.host.name} generation ${b.to ?? '?'}`).join(', ')}); ${viaLine(held)}\n`)
    process.stdout.write('OK\n')
    return ExitCodes.ok
  }
  // Not every host could go back: the ones that did go forward again, to the generation they had.
  await Promise.all(backs.filter((b) => outcomes[b.host.name] !== undefined).map(async (b) => {
    const r = await ssh.run(b.host, ['undo', live, '--to', String(b.from)])
    outcomes[b.host.name] = r.code === 0 ? 'undone' : 'switched, undo failed'
    if (r.code !== 0) lines.push(...hostLines(b.host.name, failureOf(r, 'undo')))
  }))
  for (const b of stuck) outcomes[b.host.name] = 'not switched'
  const split = backs.filter((b) => outcomes[b.host.name] === 'switched, undo failed')
  decision.update(split.length === 0 ? 'undone' : 'split', outcomes)
  const names = stuck.map((b) => b.host.name).join(', ')
  throw split.length === 0
    ? new HotswapError('HOTSWAP_ERR_FLEET_UNDONE', `fleet undo of ${live}: ${names} could not go back; every host serves the generation it had (decision ${decision.path})`, lines)
    : new HotswapError('HOTSWAP_ERR_FLEET_SPLIT', `fleet undo of ${live}: ${names} could not go back and ${split.map((b) => b.host.name).join(', ')} could not return: the fleet is split (decision ${decision.path}; fleet recover)`, lines)
}
