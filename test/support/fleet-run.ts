// A fleet ready for fleet commands: startHosts' hosts each seeded and serving db/live.sqlite3,
// and a coordinator folder whose hotswap.config.json reaches hotswap on every host; what a
// fleet test checks on every host afterwards (no stage or temp file left, the label served).

import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { integrity, seed, testDir, type SeedOptions } from './files.js'
import { BIN } from './serve.js'
import { request } from './http.js'
import { sh, startHosts, type Fleet, type Host, type RemoteServe } from './fleet.js'
import type { TestContext } from './files.js'

export const FLEET_LIVE = 'db/live.sqlite3'

/** The command line that runs this checkout's hotswap in the host's directory. */
export function remoteOf (host: Host): string {
  return `cd ${sh(host.dir)} && ${sh(process.execPath)} ${sh(BIN)}`
}

/** A coordinator folder whose hotswap.config.json reaches hotswap on every host (its own directory; `remote` per host). */
export function fleetCoordinator (t: TestContext, fleet: Fleet, hold = 10_000, remote: (h: Host) => string = remoteOf): string {
  const dir = testDir(t)
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    fleet: {
      hosts: fleet.hosts.map((h) => ({ name: h.name, remote: remote(h) })),
      sshConfig: fleet.config,
      hold,
    },
  }))
  return dir
}

export async function startFleet (t: TestContext, opts: { n?: number, app?: string, hold?: number, seedOf?: (h: Host) => Partial<SeedOptions> } = {}): Promise<{ fleet: Fleet, serves: RemoteServe[], cwd: string }> {
  const fleet = await startHosts(t, opts.n ?? 3)
  for (const host of fleet.hosts) seed(join(host.dir, FLEET_LIVE), { label: 'v0', ...opts.seedOf?.(host) })
  const serves = await Promise.all(fleet.hosts.map(async (host) => await fleet.serveOn(host, { workers: 2, ...(opts.app === undefined ? {} : { app: opts.app }) })))
  return { fleet, serves, cwd: fleetCoordinator(t, fleet, opts.hold) }
}

/** The stage and temp files in the host's .hotswap folder of db/live.sqlite3. */
export function stagesLeft (host: Host): string[] {
  const dir = join(host.dir, 'db', '.hotswap', 'live.sqlite3')
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('stage-') || n.includes('.tmp')) : []
}

/** Every host serves `label` (over HTTP), its live file passes integrity_check, no stage is left. */
export async function fleetServes (serves: RemoteServe[], label: string): Promise<void> {
  for (const s of serves) {
    assert.equal((await request(s.port, '/label')).json().label, label, `${s.host.name} serves ${label}`)
    assert.deepEqual(integrity(join(s.host.dir, FLEET_LIVE)), ['ok'], `${s.host.name}: integrity_check`)
    assert.deepEqual(stagesLeft(s.host), [], `no stage or temp file left on ${s.host.name}`)
  }
}

/** The coordinator's decision records, oldest first. */
export function decisions (cwd: string): Array<{ id: string, state: string, decision: string, recovered?: string, hosts: Array<{ name: string, outcome?: string }> }> {
  const dir = join(cwd, '.hotswap', 'fleet')
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((n) => n.endsWith('.json')).sort().map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')))
}
