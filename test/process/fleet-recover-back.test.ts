// `fleet recover` going back: the coordinator SIGKILLed between the hosts' installs left host1 on
// the new file and host2, host3 on the old one; host3's stage is gone meanwhile (aborted by
// hand), so the decision cannot be finished forward: host1 is undone to the generation it had,
// host2's stage aborted, and every host serves the old file, whole, with nothing left staged.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, decisions, FLEET_LIVE, fleetServes, type Host, pushable, request, startFleet } from '../support/index.js'

test('fleet recover, a stage gone: back by undo on the switched host; every host on the old file; the record says undone', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t, { hold: 3_000 })
  const killed = await cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE], { cwd, env: { HOTSWAP_TEST_CRASH_AT: 'fleet-between-installs' }, timeoutMs: 40_000 })
  assert.equal(killed.code, null, killed.stderr)
  assert.deepEqual(await Promise.all(serves.map(async (s) => (await request(s.port, '/label')).json().label as string)), ['v1', 'v0', 'v0'])
  const host3 = fleet.hosts[2] as Host
  const aborted = await fleet.hotswap(host3, ['abort'])
  assert.equal(aborted.code, 0, aborted.stderr)

  const r = await cli(['fleet', 'recover'], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.toString(), /^decision \S+ \(fleet cp to db\/live\.sqlite3, decided\): finished back, every host serves the generation it had \(host1 undone by recover, host2 not switched, host3 not switched\)$/m)
  await fleetServes(serves, 'v0')
  const [record] = decisions(cwd)
  assert.equal(record?.state, 'undone')
  assert.equal(record?.recovered, 'back')
  assert.deepEqual(record?.hosts.map((h) => h.outcome), ['undone by recover', 'not switched', 'not switched'])
})
