// `hotswap fleet undo LIVE` on three hosts: every host back to its previous generation together
// (the same pause-everywhere, switch-everywhere protocol as fleet cp, its decision recorded as an
// undo), or, when the hosts' previous generations differ, none: refused with a line per host,
// nothing changed anywhere.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, decisions, FLEET_LIVE, fleetServes, type Host, pushable, request, startFleet } from '../support/index.js'

test('fleet undo: all three hosts back to the previous generation together; refused, nothing changed, when their previous generations differ', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t)
  const cp = await cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(cp.code, 0, cp.stderr)
  await fleetServes(serves, 'v1')

  const r = await cli(['fleet', 'undo', FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'OK\n')
  assert.match(r.stderr, /^fleet undo of db\/live\.sqlite3: 3 hosts back to sha256:[0-9a-f]{12} \(host1 generation 1, host2 generation 1, host3 generation 1\); held over host1 forwarded socket, host2 forwarded socket, host3 forwarded socket$/m)
  await fleetServes(serves, 'v0')
  const undo = decisions(cwd).find((d) => d.decision === 'undo')
  assert.equal(undo?.state, 'committed')
  assert.deepEqual(undo?.hosts.map((h) => h.outcome), ['switched', 'switched', 'switched'])

  // host1 pushed on its own: its previous generation is v0, the others' is v1. Refused.
  const [host1] = fleet.hosts as [Host]
  const pushed = await fleet.hotswap(host1, ['cp', '-', FLEET_LIVE], { input: pushable(cwd, 'v2').bytes })
  assert.equal(pushed.code, 0, pushed.stderr)
  const refused = await cli(['fleet', 'undo', FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(refused.code, 1, refused.stderr)
  assert.equal(refused.stdout.toString(), '')
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_UNDO_REFUSED\] fleet undo of db\/live\.sqlite3: the hosts' previous generations differ; nothing changed on any host$/m)
  assert.match(refused.stderr, /^ {2}host1: generation 4 \(sha256:[0-9a-f]{12}\), previous 3 \(sha256:[0-9a-f]{12}\)$/m)
  assert.match(refused.stderr, /^ {2}host2: generation 3 \(sha256:[0-9a-f]{12}\), previous 2 \(sha256:[0-9a-f]{12}\)$/m)
  assert.equal((await request((serves[0])?.port as number, '/label')).json().label, 'v2')
  await fleetServes(serves.slice(1), 'v0')
  assert.equal(decisions(cwd).filter((d) => d.decision === 'undo').length, 1, 'no decision recorded for the refused undo')
})
