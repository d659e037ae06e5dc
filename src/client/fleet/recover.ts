// `hotswap fleet recover [DECISION-ID]`: finishes the fleet decisions a coordinator left
// unfinished (killed, or its host's ssh gone mid-way), from their records (decision.ts), under
// the fleet's lease.
//
//   each record in "staging" / "decided" / "split", oldest first:
//     every host asked: its live digest and its stages (history LIVE --json)
//     staging (nothing decided) ─▶ its stages aborted ─▶ "aborted"
//     decided: the hosts not on the decided digest all still have their stage (an undo: their
//       generation to go back to) ─▶ forward: each committed ─▶ "committed"
//     otherwise, or a forward that fails ─▶ back: the switched hosts undone to the generation
//       they had ─▶ "undone"; an undo that fails ─▶ "split", HOTSWAP_ERR_FLEET_SPLIT
//     a host that cannot be asked ─▶ nothing done, the record stays, HOTSWAP_ERR_FLEET_SPLIT

import { ExitCodes, HotswapError } from '../../shared/errors.js'
import { reportError } from '../output.js'
import type { FleetHost, FleetSettings } from './config.js'
import { Decision, type DecisionRecord } from './decision.js'
import { FleetLease } from './lease.js'
import { failureOf, hostLines } from './reasons.js'
import { Ssh } from './ssh.js'
import { historyOn } from './stage.js'

type RecordHost = DecisionRecord['hosts'][number]

interface Probe { host: RecordHost, live: number, digest: string | null, staged: string[], kept: number[] }

const short = (digest: string): string => digest.slice(0, 19)

/** `fleet cp` and `fleet undo` start only when no decision of the same LIVE is unfinished. */
export function refuseUnfinished (stateDir: string, live: string, command: string): void {
  const open = Decision.unfinished(stateDir).filter((d) => d.record.live === live)
  if (open.length === 0) return
  throw new HotswapError('HOTSWAP_ERR_FLEET_UNFINISHED',
    `fleet ${command} ${command === 'cp' ? 'to' : 'of'} ${live}: the fleet decision ${open.map((d) => d.record.id).join(', ')} is unfinished (${open.map((d) => d.record.state).join(', ')}); run \`hotswap fleet recover\` first, nothing was done`)
}

async function probe (ssh: Ssh, h: RecordHost, live: string): Promise<Probe> {
  const [db] = await historyOn(ssh, h, live)
  if (db === undefined) throw new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: the host lists no database ${live}`)
  return {
    host: h,
    live: db.live ?? 0,
    digest: db.generations?.find((g) => g.id === db.live)?.digest ?? null,
    staged: (db.staged ?? []).flatMap((s) => s.id === undefined ? [] : [s.id]),
    kept: (db.generations ?? []).flatMap((g) => g.id === undefined || g.id === db.live ? [] : [g.id]),
  }
}

/** One remote step that changes a host; its failure, if it failed. */
async function step (ssh: Ssh, host: FleetHost, args: string[], what: string): Promise<HotswapError | undefined> {
  const r = await ssh.run(host, args)
  return r.code === 0 ? undefined : failureOf(r, what)
}

/** Finishes one decision: its one-line result, or throws FLEET_SPLIT with a line per host. */
async function finish (ssh: Ssh, d: Decision): Promise<string> {
  const r = d.record
  const what = `decision ${r.id} (fleet ${r.decision === 'undo' ? 'undo of' : 'cp to'} ${r.live}, ${r.state})`
  const probes = await Promise.all(r.hosts.map(async (h) => await probe(ssh, h, r.live).catch((err: unknown) => err as HotswapError)))
  const unreachable = probes.flatMap((p, i) => p instanceof Error ? hostLines((r.hosts[i] as RecordHost).name, p instanceof HotswapError ? p : new HotswapError('HOTSWAP_ERR_INTERNAL', String(p))) : [])
  if (unreachable.length > 0) throw new HotswapError('HOTSWAP_ERR_FLEET_SPLIT', `${what}: not every host could be asked; nothing was done, run fleet recover again once they answer`, unreachable)
  const hosts = probes as Probe[]
  const outcomes: Record<string, string> = {}
  const problems: string[] = []
  const abortStages = async (ps: Probe[]): Promise<void> => {
    await Promise.all(ps.filter((p) => p.host.stage !== '' && p.staged.includes(p.host.stage)).map(async (p) => {
      const err = await step(ssh, p.host, ['abort', p.host.stage], `abort of stage ${p.host.stage}`)
      if (err !== undefined) problems.push(...hostLines(p.host.name, err))
    }))
  }

  if (r.state === 'staging') {
    await abortStages(hosts)
    for (const p of hosts) outcomes[p.host.name] = 'not switched'
    if (problems.length > 0) throw new HotswapError('HOTSWAP_ERR_FLEET_SPLIT', `${what}: a stage could not be aborted`, problems)
    d.update('aborted', outcomes)
    return `${what}: it was never decided; every stage aborted, nothing had changed`
  }

  const switched = hosts.filter((p) => p.digest === r.digest)
  const pending = hosts.filter((p) => p.digest !== r.digest)
  for (const p of switched) outcomes[p.host.name] = 'had switched'
  const forwardArgs = (p: Probe): string[] | undefined => r.decision === 'undo'
    ? (p.host.to !== undefined && p.kept.includes(p.host.to) ? ['undo', r.live, '--to', String(p.host.to)] : undefined)
    : (p.staged.includes(p.host.stage) ? ['commit', p.host.stage] : undefined)
  let forward = pending.every((p) => forwardArgs(p) !== undefined)
  if (forward) {
    const failed = await Promise.all(pending.map(async (p) => {
      const err = await step(ssh, p.host, forwardArgs(p) as string[], r.decision === 'undo' ? 'undo' : 'commit')
      // A failure after the install (a worker's resume) still leaves the decided file live.
      const now = err === undefined ? undefined : await probe(ssh, p.host, r.live).catch(() => undefined)
      if (err === undefined || now?.digest === r.digest) { outcomes[p.host.name] = 'switched by recover'; return false }
      problems.push(...hostLines(p.host.name, err))
      return true
    }))
    forward = !failed.includes(true)
  }
  if (forward) {
    d.record.recovered = 'forward'
    d.update('committed', outcomes)
    return `${what}: finished forward, every host serves ${short(r.digest)} (${hosts.map((p) => `${p.host.name} ${outcomes[p.host.name] ?? '?'}`).join(', ')})`
  }

  // Back: every host on the decided digest returns to the generation it had before the decision.
  const now = await Promise.all(hosts.map(async (p) => await probe(ssh, p.host, r.live).catch(() => p)))
  await Promise.all(now.filter((p) => p.digest === r.digest).map(async (p) => {
    const back = r.decision === 'undo' ? p.host.from : p.host.checkedAgainst
    const err = back === undefined ? new HotswapError('HOTSWAP_ERR_NOTHING_KEPT', 'the record names no generation to go back to') : await step(ssh, p.host, ['undo', r.live, '--to', String(back)], 'undo')
    if (err === undefined) outcomes[p.host.name] = 'undone by recover'
    else { outcomes[p.host.name] = 'switched, undo failed'; problems.push(...hostLines(p.host.name, err)) }
  }))
  await abortStages(now.filter((p) => p.digest !== r.digest))
  for (const p of now) outcomes[p.host.name] ??= 'not switched'
  const split = Object.values(outcomes).includes('switched, undo failed')
  d.record.recovered = 'back'
  d.update(split ? 'split' : 'undone', outcomes)
  if (split) throw new HotswapError('HOTSWAP_ERR_FLEET_SPLIT', `${what}: the fleet could not be brought back together: ${Object.entries(outcomes).filter(([, o]) => o === 'switched, undo failed').map(([n]) => n).join(', ')} could not be undone (decision ${d.path})`, problems)
  return `${what}: finished back, every host serves the generation it had (${hosts.map((p) => `${p.host.name} ${outcomes[p.host.name] ?? '?'}`).join(', ')})${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`
}

export async function fleetRecover (settings: FleetSettings, id: string | undefined): Promise<number> {
  try {
    if (id !== undefined && !/^[0-9TZ]+-[0-9a-f]{8}$/.test(id)) throw new HotswapError('HOTSWAP_ERR_USAGE', `${JSON.stringify(id.slice(0, 64))} is not a decision id (as in .hotswap/fleet/ID.json)`)
    const pick = (): Decision[] => id === undefined ? Decision.unfinished(settings.stateDir) : [Decision.load(settings.stateDir, id)]
    const first = pick()
    const open = first.filter((d) => d.record.state === 'staging' || d.record.state === 'decided' || d.record.state === 'split')
    if (open.length === 0) {
      process.stdout.write(id === undefined ? `no unfinished fleet decision in ${settings.stateDir}: nothing to recover\n` : `decision ${id} is ${first[0]?.record.state ?? '?'}: nothing to recover\n`)
      return ExitCodes.ok
    }
    const ssh = new Ssh({ sshConfig: settings.sshConfig, timeoutMs: settings.timeoutMs })
    const hosts = [...new Map(open.flatMap((d) => d.record.hosts).map((h) => [h.name, { name: h.name, remote: h.remote }])).values()]
    const lease = await FleetLease.take(ssh, hosts, 'recover')
    try {
      let failed: HotswapError | undefined
      // Read again under the lease: another recover may have finished one meanwhile.
      for (const stale of open) {
        const d = Decision.load(settings.stateDir, stale.record.id)
        if (d.record.state !== 'staging' && d.record.state !== 'decided' && d.record.state !== 'split') continue
        try {
          process.stdout.write(`${await finish(ssh, d)}\n`)
        } catch (err) {
          failed ??= err as HotswapError
          if (failed !== err) reportError(err)
        }
      }
      return failed === undefined ? ExitCodes.ok : reportError(failed)
    } finally {
      await lease.release()
    }
  } catch (err) {
    return reportError(err)
  }
}
