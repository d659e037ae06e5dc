// A fleet ready for fleet commands: hosts (fleet.ts) each serving db/live.sqlite3 (label v0),
// a coordinator folder whose hotswap.config.json reaches hotswap on every host, and the checks
// every fleet fault ends with.
//
//   startFleet(t) ─▶ startHosts ─▶ seed db/live.sqlite3 on each ─▶ serveOn each ─▶ coordinator/
//   fleetAgrees(serves, label) ─▶ per host: /label over HTTP (answered: nothing stuck paused),
//        history over its socket (one live generation for all, nothing staged), integrity_check,
//        no stage, record temp or upload temp left in db/ and its .hotswap/ folder

import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { integrity, labelOf, leftovers, seed, testDir, type SeedOptions, type TestContext } from './files.js'
import { generationsFolder, historyOf } from './generations.js'
import { request } from './http.js'
import { BIN } from './serve.js'
import { sh, startHosts, type Fleet, type Host, type RemoteServe } from './fleet.js'

export const FLEET_LIVE = 'db/live.sqlite3'

/** The command line that runs this checkout's hotswap in the host's directory. */
export function remoteOf (host: Host): string {
  return `cd ${sh(host.dir)} && ${sh(process.execPath)} ${sh(BIN)}`
}

/** A coordinator folder whose hotswap.config.json reaches hotswap on every host (its own directory). */
export function coordinator (t: TestContext, fleet: Fleet, remote: (h: Host) => string = remoteOf): string {
  const dir = testDir(t)
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    fleet: { hosts: fleet.hosts.map((h) => ({ name: h.name, remote: remote(h) })), sshConfig: fleet.config, hold: 10_000 },
  }))
  return dir
}

export async function startFleet (t: TestContext, opts: { n?: number, app?: string, seedOf?: (h: Host) => Partial<SeedOptions>, remote?: (h: Host) => string } = {}): Promise<{ fleet: Fleet, serves: RemoteServe[], cwd: string }> {
  const fleet = await startHosts(t, opts.n ?? 3)
  for (const host of fleet.hosts) seed(join(host.dir, FLEET_LIVE), { label: 'v0', ...opts.seedOf?.(host) })
  const serves = await Promise.all(fleet.hosts.map(async (host) => await fleet.serveOn(host, { workers: 2, ...(opts.app === undefined ? {} : { app: opts.app }) })))
  return { fleet, serves, cwd: coordinator(t, fleet, opts.remote) }
}

/** Stages and record temp files in the host's .hotswap/ folder of db/live.sqlite3. */
export function stagesLeft (host: Host): string[] {
  const dir = generationsFolder(join(host.dir, FLEET_LIVE))
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('stage-') || n.includes('.tmp')) : []
}

/** Every host serves `label` and has no stage or temp file left (the quick check between steps). */
export async function unchanged (serves: RemoteServe[], label = 'v0'): Promise<void> {
  for (const s of serves) {
    assert.equal((await request(s.port, '/label')).json().label, label, `${s.host.name} still serves ${label}`)
    assert.deepEqual(stagesLeft(s.host), [], `no stage left on ${s.host.name}`)
  }
}

/**
 * The fleet after a fault: every host answers /label with `label` (a request answered: nothing
 * stuck paused), its live generation is the same one on every host (`generation` when given) and
 * nothing is staged, its live file passes integrity_check, and no stage, record temp or upload
 * temp is left on it. Returns the live generation.
 */
export async function fleetAgrees (serves: RemoteServe[], label: string, generation?: number): Promise<number> {
  const lives = new Set<number>()
  for (const s of serves) {
    const name = s.host.name
    const res = await request(s.port, '/label', { timeoutMs: 15_000, keepAlive: false })
    assert.equal(res.status, 200, `${name} answers`)
    assert.equal(res.json().label, label, `${name} serves ${label}`)
    const [db] = await historyOf(s.socket, ['live'])
    assert.ok(db !== undefined, `${name} lists its database`)
    assert.deepEqual(db.staged, [], `nothing staged on ${name}`)
    lives.add(db.live)
    const file = join(s.host.dir, FLEET_LIVE)
    assert.deepEqual(integrity(file), ['ok'], `${name}'s live file passes integrity_check`)
    assert.equal(labelOf(file), label, `${name}'s live file holds ${label}`)
    assert.deepEqual(stagesLeft(s.host), [], `no stage or record temp left on ${name}`)
    assert.deepEqual(leftovers(join(s.host.dir, 'db')), [], `no upload temp left beside ${name}'s database`)
  }
  assert.equal(lives.size, 1, `one live generation on every host: ${[...lives].join(', ')}`)
  const [live] = lives as Set<number>
  if (generation !== undefined) assert.equal(live, generation, 'the expected live generation')
  return live as number
}

export type { FleetHistory } from '../../src/client/fleet/history.js'
