// Faults a fleet cp meets at its stage, under HTTP load on every host: a host whose live schema
// differs refuses the file (its diff shown under its name), a host name no ssh knows, a host
// without hotswap (its remote command not found). Each: exit 1 with HOTSWAP_ERR_FLEET_REFUSED and
// the host's own code under its name, every stage made aborted, every host on its old generation
// (HTTP and history), integrity_check ok, nothing left in any .hotswap folder, no request failed.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, fleetCoordinator, decisions, FLEET_LIVE, fleetAgrees, loadEach, noFailedRequests, pushable, remoteOf, sh, startFleet } from '../support/index.js'

test('a host refuses the stage (live schema differs), an unknown host, a host without hotswap: every stage aborted, all hosts on their old generation, no request failed', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t, { seedOf: (h) => h.name === 'host2' ? { extraSql: 'CREATE TABLE extra (x INTEGER);' } : {} })
  const v1 = pushable(cwd, 'v1')
  const loads = loadEach(serves)

  const refused = await cli(['fleet', 'cp', v1.path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(refused.code, 1, refused.stderr)
  assert.equal(refused.stdout.toString(), '')
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by host2; every stage aborted, nothing changed on any host$/m)
  // The diff, under host2's line: the table only its live database has.
  assert.match(refused.stderr, /^ {2}host2: HOTSWAP_ERR_SCHEMA_MISMATCH stage: the schema differs from the live database .*\n( {4}.*\n)* {4}- .*extra/m)
  for (const h of ['host1', 'host3']) assert.match(refused.stderr, new RegExp(`^ {2}${h}: staged [0-9a-f]{8} .*\\n {4}its stage [0-9a-f]{8} aborted$`, 'm'))
  assert.deepEqual(decisions(cwd), [], 'no decision was recorded')
  await fleetAgrees(serves, 'v0', 1)

  // A host no ssh configuration or resolver knows.
  const unknown = await cli(['fleet', 'cp', v1.path, FLEET_LIVE, '--hosts', 'host1,nosuchhost.invalid'], { cwd, timeoutMs: 40_000 })
  assert.equal(unknown.code, 1, unknown.stderr)
  assert.match(unknown.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by nosuchhost\.invalid; every stage aborted, nothing changed on any host$/m)
  assert.match(unknown.stderr, /^ {2}nosuchhost\.invalid: HOTSWAP_ERR_UNREACHABLE stage: ssh failed: .*nosuchhost\.invalid/m)
  assert.match(unknown.stderr, /^ {2}host1: staged [0-9a-f]{8} .*\n {4}its stage [0-9a-f]{8} aborted$/m)
  await fleetAgrees(serves, 'v0', 1)

  // host3 without hotswap: its remote command is not found there (exit 127).
  const without = fleetCoordinator(t, fleet, 10_000, (h) => h.name === 'host3' ? `cd ${sh(h.dir)} && no-such-hotswap` : remoteOf(h))
  const missing = await cli(['fleet', 'cp', v1.path, FLEET_LIVE, '--hosts', 'host1,host3'], { cwd: without, timeoutMs: 40_000 })
  assert.equal(missing.code, 1, missing.stderr)
  assert.match(missing.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by host3; /m)
  assert.match(missing.stderr, /^ {2}host3: HOTSWAP_ERR_REMOTE stage: hotswap was not found on the host \(exit 127: .*no-such-hotswap.*\)$/m)
  await fleetAgrees(serves, 'v0', 1)

  noFailedRequests(await loads.stop(), serves)
})
