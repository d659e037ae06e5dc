// What a fleet fault test needs beyond fleet-run.ts's serving hosts: the checks every fleet
// fault ends with, load on every host, and faults timed on a step of the fleet cp.
//
//   fleetAgrees(serves, label) ─▶ per host: /label over HTTP (answered: nothing stuck paused),
//        history over its socket (one live generation for all, nothing staged), integrity_check,
//        no stage, record temp or upload temp left in db/ and its .hotswap/ folder
//   loadEach(serves) ─▶ HTTP load on every host; stop() ─▶ each host's stats (noFailedRequests)
//   onDecision(cwd, fn) ─▶ fn once the coordinator recorded its decision (before any host pauses)
//   onHeld(serve, fn) ─▶ fn once the host's held commit logged that it is paused

import assert from 'node:assert/strict'
import { sleep } from './wait.js'
import { join } from 'node:path'
import { integrity, labelOf, leftovers } from './files.js'
import { historyOf } from './generations.js'
import { load, request, type LoadStats } from './http.js'
import type { RemoteServe } from './fleet.js'
import { decisions, FLEET_LIVE, stagesLeft } from './fleet-run.js'

/**
 * The fleet after a fault: every host answers /label with `label` (a request answered: nothing
 * stuck paused), its live file is the same on every host (one digest; or, for the file each host
 * started with, whose digest is not known while live, one generation id; `generation` when given)
 * and nothing is staged, its live file passes integrity_check, and no stage, record temp or upload
 * temp is left on it. Returns the live generation (of the last host).
 */
export async function fleetAgrees (serves: RemoteServe[], label: string, generation?: number): Promise<number> {
  const lives = new Set<string>()
  let id = 0
  for (const s of serves) {
    const name = s.host.name
    const res = await request(s.port, '/label', { timeoutMs: 15_000, keepAlive: false })
    assert.equal(res.status, 200, `${name} answers`)
    assert.equal(res.json().label, label, `${name} serves ${label}`)
    const [db] = await historyOf(s.socket, ['live'])
    assert.ok(db !== undefined, `${name} lists its database`)
    assert.deepEqual(db.staged, [], `nothing staged on ${name}`)
    const digest = db.generations.find((g) => g.id === db.live)?.digest ?? null
    lives.add(digest ?? `generation ${db.live}`)
    id = db.live
    if (generation !== undefined) assert.equal(db.live, generation, `${name}: the expected live generation`)
    const file = join(s.host.dir, FLEET_LIVE)
    assert.deepEqual(integrity(file), ['ok'], `${name}'s live file passes integrity_check`)
    assert.equal(labelOf(file), label, `${name}'s live file holds ${label}`)
    assert.deepEqual(stagesLeft(s.host), [], `no stage or record temp left on ${name}`)
    assert.deepEqual(leftovers(join(s.host.dir, 'db')), [], `no upload temp left beside ${name}'s database`)
  }
  assert.equal(lives.size, 1, `one live file on every host: ${[...lives].join(', ')}`)
  return id
}

/** `concurrency` requests in flight on every host until stop(). */
export function loadEach (serves: RemoteServe[], concurrency = 2): { stop: () => Promise<LoadStats[]> } {
  const loads = serves.map((s) => load(s.port, { paths: ['/label'], concurrency }))
  return { stop: async () => await Promise.all(loads.map(async (l) => await l.stop())) }
}

/** Every host's load answered requests and none failed. */
export function noFailedRequests (stats: LoadStats[], serves: RemoteServe[]): void {
  for (const [i, s] of stats.entries()) {
    assert.equal(s.failed, 0, `${serves[i]?.host.name ?? '?'}: ${s.errors.join('; ')}`)
    assert.ok(s.ok > 0, `${serves[i]?.host.name ?? '?'} answered requests`)
  }
}

/** Polls (10 ms) until `ready()` is true, then calls `fn` at once; gives up after `timeoutMs`. */
async function when (what: string, ready: () => boolean, fn: () => unknown, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await sleep(10)
  }
  await fn()
}

/** Calls `fn` once a new decision is recorded in `cwd` (the votes are in, no host paused yet). */
export async function onDecision (cwd: string, fn: () => unknown, timeoutMs = 30_000): Promise<void> {
  const decided = (): number => decisions(cwd).filter((d) => d.state !== 'staging').length
  const before = decided()
  await when('a fleet decision', () => decided() > before, fn, timeoutMs)
}

/** Calls `fn` once the host's held commit has paused every worker (its "held paused" log line). */
export async function onHeld (serve: RemoteServe, fn: () => unknown, timeoutMs = 30_000): Promise<void> {
  const held = (): number => serve.logs().filter((l) => l.event === 'held').length
  const before = held()
  await when(`${serve.host.name} held paused`, () => held() > before, fn, timeoutMs)
}

export type { FleetHistory } from '../../src/client/fleet/history.js'
