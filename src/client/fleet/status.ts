// `hotswap fleet status [LIVE] [--json]`: every host asked at once, over ssh.
//
//   per host: REMOTE history [LIVE] --json (live generation, its digest)
//             REMOTE status --json        (workers ready)
//   then: "the fleet agrees" (one live digest per database on every host) or which hosts differ;
//   exit 1 when a host is unreachable or the hosts differ.

import { ExitCodes, HotswapError } from '../../shared/errors.js'
import type { StatusReport } from '../../shared/status-report.js'
import { reportError } from '../output.js'
import type { FleetHost, FleetSettings } from './config.js'
import { failureOf } from './reasons.js'
import { printFleetReport } from './report.js'
import { Ssh } from './ssh.js'
import { historyOn } from './stage.js'

export interface HostStatus {
  name: string
  reachable: boolean
  error?: { code: string, message: string }
  databases: Array<{ name: string, generation: number, digest: string | null, staged: string[] }>
  workers?: { ready: number, total: number }
}

export interface FleetStatus {
  hosts: HostStatus[]
  agrees: boolean
  /** Per database: each live digest and the hosts serving it (more than one entry: they differ). */
  digests: Record<string, Record<string, string[]>>
}

async function hostStatus (ssh: Ssh, host: FleetHost, live: string | undefined): Promise<HostStatus> {
  try {
    const [dbs, st] = await Promise.all([
      historyOn(ssh, host, live),
      ssh.run(host, ['status', '--json']).then((r) => {
        if (r.code !== 0) throw failureOf(r, 'status')
        return JSON.parse(r.stdout) as StatusReport
      }),
    ])
    return {
      name: host.name,
      reachable: true,
      databases: dbs.map((d) => ({
        name: d.name ?? '?',
        generation: d.live ?? 0,
        digest: d.generations?.find((g) => g.id === d.live)?.digest ?? null,
        staged: (d.staged ?? []).map((s) => s.id ?? '?'),
      })),
      workers: { ready: st.workers.filter((w) => w.state === 'ready').length, total: st.workers.length },
    }
  } catch (err) {
    const e = err instanceof HotswapError ? err : new HotswapError('HOTSWAP_ERR_PROTOCOL', `status: ${(err as Error).message}`)
    return { name: host.name, reachable: false, error: { code: e.code, message: e.message }, databases: [] }
  }
}

export async function fleetStatusReport (settings: FleetSettings, live?: string): Promise<FleetStatus> {
  const ssh = new Ssh({ sshConfig: settings.sshConfig, timeoutMs: settings.timeoutMs })
  const hosts = await Promise.all(settings.hosts.map(async (h) => await hostStatus(ssh, h, live)))
  const digests: FleetStatus['digests'] = {}
  for (const h of hosts) {
    for (const d of h.databases) {
      const byDigest = digests[d.name] ??= {}
      ;(byDigest[d.digest ?? 'unknown'] ??= []).push(h.name)
    }
  }
  const agrees = hosts.every((h) => h.reachable) && Object.values(digests).every((byDigest) => {
    const keys = Object.keys(byDigest)
    return keys.length === 1 && keys[0] !== 'unknown' && (byDigest[keys[0] as string] as string[]).length === hosts.length
  })
  return { hosts, agrees, digests }
}

export async function fleetStatus (settings: FleetSettings, live: string | undefined, json: boolean): Promise<number> {
  return await printFleetReport(async () => await fleetStatusReport(settings, live), json, text)
}

function text (report: FleetStatus): number {
  const lines: string[] = []
  for (const h of report.hosts) {
    if (!h.reachable) { lines.push(`${h.name}  unreachable  ${h.error?.code ?? ''} ${h.error?.message ?? ''}`); continue }
    const dbs = h.databases.map((d) => `${d.name} generation ${d.generation} ${d.digest === null ? 'digest unknown' : d.digest.slice(0, 19)}${d.staged.length > 0 ? ` (staged ${d.staged.join(', ')})` : ''}`)
    lines.push(`${h.name}  reachable  ${dbs.join('; ')}  workers ${h.workers?.ready ?? 0}/${h.workers?.total ?? 0} ready`)
  }
  if (report.agrees) {
    lines.push(`the fleet agrees: ${Object.entries(report.digests).map(([db, byDigest]) => `${db} ${Object.keys(byDigest)[0]?.slice(0, 19) ?? ''}`).join(', ')} on ${report.hosts.length} hosts`)
    process.stdout.write(lines.join('\n') + '\n')
    return ExitCodes.ok
  }
  process.stdout.write(lines.join('\n') + '\n')
  const unreachable = report.hosts.filter((h) => !h.reachable).map((h) => h.name)
  const differ = Object.entries(report.digests).filter(([, byDigest]) => Object.keys(byDigest).length > 1 || Object.keys(byDigest)[0] === 'unknown' || (Object.values(byDigest)[0] ?? []).length !== report.hosts.length - unreachable.length)
  const parts = [
    ...(unreachable.length > 0 ? [`unreachable: ${unreachable.join(', ')}`] : []),
    ...differ.map(([db, byDigest]) => `${db}: ${Object.entries(byDigest).map(([d, hs]) => `${hs.join(', ')} ${d === 'unknown' ? 'digest unknown' : d.slice(0, 19)}`).join(' vs ')}`),
  ]
  return reportError(new HotswapError(unreachable.length > 0 ? 'HOTSWAP_ERR_UNREACHABLE' : 'HOTSWAP_ERR_FLEET_DISAGREES', `the fleet does not agree: ${parts.join('; ')}`))
}
