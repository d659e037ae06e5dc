// The one line a fleet cp ends with, on stderr: the hosts, each one's pause, and the skew between
// the first and the last host's resume, from what each host recorded of its own commit (its
// history: the new live generation's pauseMs, resumedAt, goToResumeMs):
//
//   fleet cp to LIVE: 3 hosts switched to sha256:…; staged in 412 ms (the slowest host);
//     pause web1 9.8 ms, web2 11.2 ms, web3 9.1 ms; skew between the first and the last resume
//     0.9 ms (the hosts' clocks); go → resume web1 2.1 ms, web2 2.9 ms, web3 1.8 ms;
//     held over web1 forwarded socket, web2 forwarded socket, web3 ssh CLI
//
// The skew is the spread of the hosts' resumedAt: each host's own clock, read the moment its last
// worker resumed (before its manifests are saved and its OK travels back). On one machine that is
// one clock; between machines it is as good as their clock sync, which is why each host's delay
// from its go to its resume (its own clock alone) is printed beside it. A host that does not
// record resumedAt (an older hotswap) leaves the skew unknown, never guessed from the OKs.

import type { FleetHost } from './config.js'
import type { Ssh } from './ssh.js'
import { historyOn } from './stage.js'

export interface HostSwitch {
  name: string
  pauseMs?: number
  /** ms since the epoch, on the host's clock. */
  resumedAt?: number
  goToResumeMs?: number
}

export interface SwitchSummary {
  hosts: HostSwitch[]
  /** max − min of the hosts' resumedAt; undefined when a host did not say. */
  skewMs?: number
}

const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined

/** Each host's record of the commit that made its live generation (one `history --json` each, at once). */
export async function switchSummary (ssh: Ssh, hosts: FleetHost[], live: string): Promise<SwitchSummary> {
  const out = await Promise.all(hosts.map(async (h): Promise<HostSwitch> => {
    try {
      const [db] = await historyOn(ssh, h, live)
      const g = db?.generations?.find((x) => x.id === db.live) as Record<string, unknown> | undefined
      return { name: h.name, pauseMs: num(g?.pauseMs), resumedAt: num(g?.resumedAt), goToResumeMs: num(g?.goToResumeMs) }
    } catch {
      return { name: h.name }
    }
  }))
  const resumes = out.map((h) => h.resumedAt)
  const known = resumes.filter((t): t is number => t !== undefined)
  return { hosts: out, ...(known.length === resumes.length && known.length > 0 ? { skewMs: Math.max(...known) - Math.min(...known) } : {}) }
}

const ms = (v: number | undefined): string => v === undefined ? '?' : `${v.toFixed(1)} ms`

/** How each host's held switch was spoken: its socket through the ssh master, or a CLI over ssh. */
export function viaLine (held: Array<{ host: FleetHost, via: 'socket' | 'cli' }>): string {
  return `held over ${held.map((h) => `${h.host.name} ${h.via === 'socket' ? 'forwarded socket' : 'ssh CLI'}`).join(', ')}`
}

export function summaryLine (s: SwitchSummary, o: { live: string, digest: string, stagedMs: number, via: string }): string {
  const per = (f: (h: HostSwitch) => number | undefined): string => s.hosts.map((h) => `${h.name} ${ms(f(h))}`).join(', ')
  return `fleet cp to ${o.live}: ${s.hosts.length} hosts switched to ${o.digest}; staged in ${o.stagedMs} ms (the slowest host); ` +
    `pause ${per((h) => h.pauseMs)}; skew between the first and the last resume ${s.skewMs === undefined ? 'unknown (a host did not record its resume)' : `${s.skewMs.toFixed(1)} ms (the hosts' clocks)`}; ` +
    `go → resume ${per((h) => h.goToResumeMs)}; ${o.via}`
}
