// A host that cannot be reached during a fleet cp, under HTTP load on every host:
//   - at the stage: its packets dropped (an iptables DROP in this file's own network namespace):
//     its ssh gives up, every other stage is aborted, nothing changes;
//   - after it staged, before the switch: its sshd and sessions SIGKILLed once the decision is
//     recorded: every host resumes or stays on its old file; its stage, which cannot be aborted
//     then, is remembered and aborted by the next fleet cp once the host is back, which then
//     switches every host.
// After each: every host on the same generation (HTTP and history), integrity_check ok, nothing
// left in any .hotswap folder, no request failed on a host that stayed up.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, FLEET_LIVE, fleetAgrees, type Host, historyOf, loadEach, noFailedRequests, onDecision, ownNetworkNamespace, pushable, request, startFleet, stagesLeft } from '../support/index.js'

const isolation = await ownNetworkNamespace()

test('a host cut off at its stage, then a host whose sshd is killed after it staged: nothing switched, every host on its old generation; back, the left stage is aborted by the next fleet cp, which switches all', async (t) => {
  assert.ok(isolation.isolated, `this test needs its own network namespace: ${isolation.why ?? ''}`)
  const { fleet, serves, cwd } = await startFleet(t)
  const [, host2, host3] = fleet.hosts as [Host, Host, Host]
  const v1 = pushable(cwd, 'v1')
  const loads = loadEach(serves)

  fleet.cutOff(host3)
  const cut = await cli(['fleet', 'cp', v1.path, FLEET_LIVE, '--timeout', '8000'], { cwd, timeoutMs: 40_000 })
  fleet.restore(host3)
  assert.equal(cut.code, 1, cut.stderr)
  assert.match(cut.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by host3; every stage aborted, nothing changed on any host$/m)
  assert.match(cut.stderr, /^ {2}host3: HOTSWAP_ERR_(UNREACHABLE|FLEET_TIMEOUT) stage: /m)
  await fleetAgrees(serves, 'v0', 1)

  // host2's sshd killed once the votes are in and the decision recorded (no host paused yet).
  const [killed] = await Promise.all([
    cli(['fleet', 'cp', v1.path, FLEET_LIVE, '--timeout', '8000'], { cwd, timeoutMs: 40_000 }),
    onDecision(cwd, async () => { await fleet.killSshd(host2) }),
  ])
  assert.equal(killed.code, 1, killed.stderr)
  assert.match(killed.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: host2 did not pause; every host resumed on its old file, nothing changed on any host$/m)
  assert.match(killed.stderr, /^ {2}host2: HOTSWAP_ERR_UNREACHABLE pause: ssh failed/m)
  assert.match(killed.stderr, /^ {4}its stage is left: HOTSWAP_ERR_UNREACHABLE .*\(remembered in .*left-stages\.json: the next fleet cp to host2 aborts it first\)$/m)
  await fleetAgrees(serves.filter((s) => s.host !== host2), 'v0', 1)
  const host2Serve = serves[1] as (typeof serves)[number]
  assert.equal((await request(host2Serve.port, '/label')).json().label, 'v0', 'host2 still serves its old file')
  assert.equal((await historyOf(host2Serve.socket, ['live']))[0]?.staged.length, 1, 'host2 keeps the stage nobody could abort')
  assert.equal(stagesLeft(host2).filter((n) => n.endsWith('.sqlite3')).length, 1)

  // host2 back: the next fleet cp aborts what it left there first, then switches every host.
  await fleet.restartSshd(host2)
  const again = await cli(['fleet', 'cp', v1.path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(again.code, 0, again.stderr)
  await fleetAgrees(serves, 'v1', 2)

  noFailedRequests(await loads.stop(), serves)
})
