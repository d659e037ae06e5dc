// The fleet-wide lock: every fleet command (cp, undo, recover) holds a lease on every host for
// its whole run (`hotswap lease fleet` over ssh). Two operators, each from their own coordinator
// folder (as from two machines), start a fleet cp at once: one switches the fleet, the other
// exits 1 with HOTSWAP_ERR_FLEET_BUSY naming who holds it, having changed nothing. A coordinator
// SIGKILLed while it holds the lease does not leave it held: every host releases it on its own.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, decisions, FLEET_LIVE, fleetCoordinator, fleetServes, pushable, startFleet, waitUntil } from '../support/index.js'

test('two fleet cp at once: one switches every host, the other is FLEET_BUSY and changes nothing; a SIGKILLed coordinator leaves no lease held', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t)
  const other = fleetCoordinator(t, fleet)
  const [a, b] = await Promise.all([
    cli(['fleet', 'cp', pushable(cwd, 'va').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 }),
    cli(['fleet', 'cp', pushable(other, 'vb').path, FLEET_LIVE], { cwd: other, timeoutMs: 40_000 }),
  ])
  const [won, lost, wonDir, lostDir] = a.code === 0 ? [a, b, cwd, other] : [b, a, other, cwd]
  assert.equal(won.code, 0, `one of them switched the fleet: ${a.stderr} / ${b.stderr}`)
  assert.equal(lost.code, 1, lost.stderr)
  assert.equal(lost.stdout.toString(), '')
  assert.match(lost.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_BUSY\] fleet cp: another fleet command runs on host1 \(held by \S+@\S+ pid \d+ \(fleet cp\) since \d{4}-\d\d-\d\dT[0-9:.]+Z\); nothing was done, try again when it ends$/m)
  await fleetServes(serves, wonDir === cwd ? 'va' : 'vb')
  assert.deepEqual(decisions(lostDir), [], 'the busy one recorded nothing')
  assert.deepEqual(decisions(wonDir).map((d) => d.state), ['committed'])

  // SIGKILLed while it holds every host's lease (its crash point once every vote is in): each
  // host releases the lease once the killed coordinator's ssh input ends.
  const released = (i: number): number => (serves[i]?.logs() ?? []).filter((l) => /^lease fleet of .* released/.test(String(l.message))).length
  const before = serves.map((_, i) => released(i))
  const killed = await cli(['fleet', 'cp', pushable(cwd, 'vc').path, FLEET_LIVE], { cwd, env: { HOTSWAP_TEST_CRASH_AT: 'fleet-before-decision' }, timeoutMs: 40_000 })
  assert.equal(killed.code, null, killed.stderr)
  await waitUntil('every host to release the killed coordinator\'s lease', () => serves.every((_, i) => released(i) > (before[i] as number)), 15_000)
  // The lease is free: another operator's recover takes it and finishes the killed cp's record.
  const r = await cli(['fleet', 'recover'], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.toString(), /: it was never decided; every stage aborted, nothing had changed$/m)
  await fleetServes(serves, wonDir === cwd ? 'va' : 'vb')
})
