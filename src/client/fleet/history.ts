// `hotswap fleet history LIVE [--json]`: every host's generations of one database, fetched at
// once over ssh, merged by digest, so that one row is one file wherever it is kept.
//
//   per host: REMOTE history LIVE --json ─▶ its generations (id, digest, when, size) and stages
//   merge: one row per digest (newest first): which hosts keep it, as which generation, and
//          where it is live; a generation whose digest is not known yet is a row of its own
//   then: "the hosts agree" (one known digest live on every host) or which hosts differ;
//   exit 1 when a host is unreachable or the hosts differ.

import { ExitCodes, HotswapError } from '../../shared/errors.js'
import { formatBytes } from '../../shared/format.js'
import { reportError } from '../output.js'
import type { FleetSettings } from './config.js'
import { printFleetReport } from './report.js'
import { Ssh } from './ssh.js'
import { historyOn } from './stage.js'

export interface FleetHistoryRow {
  /** null: a generation whose digest is not known yet (the file a host started with, while live). */
  digest: string | null
  /** The newest of its hosts' times. */
  createdAt: string
  bytes: number
  hosts: Array<{ name: string, generation: number, live: boolean }>
  liveOn: string[]
}

export interface FleetHistory {
  live: string
  hosts: Array<{ name: string, reachable: boolean, error?: { code: string, message: string }, live?: { generation: number, digest: string | null } }>
  generations: FleetHistoryRow[]
  staged: Array<{ host: string, id: string, digest: string }>
  agrees: boolean
}

export async function fleetHistoryReport (settings: FleetSettings, live: string): Promise<FleetHistory> {
  const ssh = new Ssh({ sshConfig: settings.sshConfig, timeoutMs: settings.timeoutMs })
  const fetched = await Promise.all(settings.hosts.map(async (h) => {
    try {
      const [db] = await historyOn(ssh, h, live)
      if (db === undefined) throw new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: the host lists no database ${live}`)
      return { name: h.name, db }
    } catch (err) {
      const e = err instanceof HotswapError ? err : new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: ${(err as Error).message}`)
      return { name: h.name, error: { code: e.code, message: e.message } }
    }
  }))
  const rows = new Map<string, FleetHistoryRow>()
  const report: FleetHistory = { live, hosts: [], generations: [], staged: [], agrees: false }
  for (const f of fetched) {
    if (f.db === undefined) { report.hosts.push({ name: f.name, reachable: false, error: f.error }); continue }
    const liveGen = f.db.generations?.find((g) => g.id === f.db.live)
    report.hosts.push({ name: f.name, reachable: true, live: { generation: f.db.live ?? 0, digest: liveGen?.digest ?? null } })
    for (const g of f.db.generations ?? []) {
      const digest = typeof g.digest === 'string' ? g.digest : null
      const key = digest ?? `unknown ${f.name} ${g.id ?? '?'}`
      const row = rows.get(key) ?? { digest, createdAt: g.createdAt ?? '', bytes: g.bytes ?? 0, hosts: [], liveOn: [] }
      if ((g.createdAt ?? '') > row.createdAt) row.createdAt = g.createdAt ?? ''
      const isLive = g.id === f.db.live
      row.hosts.push({ name: f.name, generation: g.id ?? 0, live: isLive })
      if (isLive) row.liveOn.push(f.name)
      rows.set(key, row)
    }
    for (const s of f.db.staged ?? []) report.staged.push({ host: f.name, id: s.id ?? '?', digest: s.digest ?? '?' })
  }
  report.generations = [...rows.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  report.agrees = report.hosts.every((h) => h.reachable) && report.generations.some((r) => r.digest !== null && r.liveOn.length === report.hosts.length)
  return report
}

export async function fleetHistory (settings: FleetSettings, live: string, json: boolean): Promise<number> {
  return await printFleetReport(async () => await fleetHistoryReport(settings, live), json, text)
}

function text (report: FleetHistory): number {
  const lines = [`${report.live} on ${report.hosts.map((h) => h.name).join(', ')}`]
  for (const r of report.generations) {
    const where = r.hosts.map((h) => `${h.name} #${h.generation}${h.live ? ' (live)' : ''}`).join(', ')
    lines.push(`  ${r.liveOn.length > 0 ? '*' : ' '} ${r.digest === null ? 'digest unknown'.padEnd(19) : r.digest.slice(0, 19)}  ${r.createdAt}  ${formatBytes(r.bytes).padStart(9)}  ${where}`)
  }
  for (const s of report.staged) lines.push(`  staged ${s.id} ${s.digest.slice(0, 19)} on ${s.host}`)
  for (const h of report.hosts) if (!h.reachable) lines.push(`  ${h.name}  unreachable  ${h.error?.code ?? ''} ${h.error?.message ?? ''}`)
  const liveRow = report.generations.find((r) => r.digest !== null && r.liveOn.length === report.hosts.length)
  if (report.agrees && liveRow !== undefined) {
    lines.push(`the hosts agree: ${(liveRow.digest as string).slice(0, 19)} is live on all ${report.hosts.length}`)
    process.stdout.write(lines.join('\n') + '\n')
    return ExitCodes.ok
  }
  process.stdout.write(lines.join('\n') + '\n')
  const unreachable = report.hosts.filter((h) => !h.reachable).map((h) => h.name)
  const byLive = new Map<string, string[]>()
  for (const h of report.hosts) if (h.live !== undefined) byLive.set(h.live.digest ?? 'digest unknown', [...byLive.get(h.live.digest ?? 'digest unknown') ?? [], h.name])
  const parts = [
    ...(unreachable.length > 0 ? [`unreachable: ${unreachable.join(', ')}`] : []),
    `live: ${[...byLive].map(([d, hs]) => `${hs.join(', ')} ${d.slice(0, 19)}`).join(' vs ')}`,
  ]
  return reportError(new HotswapError(unreachable.length > 0 ? 'HOTSWAP_ERR_UNREACHABLE' : 'HOTSWAP_ERR_FLEET_DISAGREES', `the hosts do not agree: ${parts.join('; ')}`))
}
