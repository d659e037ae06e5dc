// A fleet undo whose coordinator is SIGKILLed between the hosts' installs (host1 back on the
// previous generation, host2 and host3 not told to go): no host stuck, a second fleet undo is
// refused while the decision is unfinished, and `fleet recover` finishes it forward (each host
// left undoes to the generation the record names): every host on the previous file.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, decisions, FLEET_LIVE, fleetServes, pushable, request, startFleet } from '../support/index.js'

test('fleet undo killed between installs: fleet undo refused until fleet recover finishes it forward', async (t) => {
  const { serves, cwd } = await startFleet(t, { hold: 3_000 })
  const cp = await cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(cp.code, 0, cp.stderr)
  const killed = await cli(['fleet', 'undo', FLEET_LIVE], { cwd, env: { HOTSWAP_TEST_CRASH_AT: 'fleet-between-installs' }, timeoutMs: 40_000 })
  assert.equal(killed.code, null, killed.stderr)
  assert.deepEqual(await Promise.all(serves.map(async (s) => (await request(s.port, '/label')).json().label as string)), ['v0', 'v1', 'v1'])

  const refused = await cli(['fleet', 'undo', FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_UNFINISHED\] fleet undo of db\/live\.sqlite3: the fleet decision \S+ is unfinished \(decided\); run `hotswap fleet recover` first, nothing was done$/m)

  const r = await cli(['fleet', 'recover'], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.toString(), /^decision \S+ \(fleet undo of db\/live\.sqlite3, decided\): finished forward, every host serves sha256:[0-9a-f]{12} \(host1 had switched, host2 switched by recover, host3 switched by recover\)$/m)
  await fleetServes(serves, 'v0')
  const undo = decisions(cwd).find((d) => d.decision === 'undo')
  assert.equal(undo?.state, 'committed')
  assert.equal(undo?.recovered, 'forward')
})
