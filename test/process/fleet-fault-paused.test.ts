// A host killed while it is paused for a fleet cp (its held commit logged "held paused"), while
// another host is still pausing (its onPause hook waits), so that no go was sent yet; under HTTP
// load on the hosts that stay up:
//   - its serve SIGKILLed: the others are told to abort and resume on their old file; no host
//     switches (none is switched and then undone); its stage, which cannot be aborted with its
//     serve gone, is remembered; its serve started again keeps its old file, and the next
//     fleet cp aborts the stage first and switches every host;
//   - its sshd and sessions SIGKILLed (its held commit with them): the same, and the host itself
//     resumes at once (its client went away).
// After each: every host on the same live file (HTTP and history), integrity_check ok, nothing
// left in any .hotswap folder, no request failed on a host whose serve stayed up.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, FLEET_LIVE, fleetAgrees, type Host, kill, loadEach, noFailedRequests, onHeld, pushable, request, type RemoteServe, startFleet } from '../support/index.js'

/** fleet cp to every host, host3 slow to pause (its onPause hook waits), `fault` once host2 is held paused. */
async function faultWhileHeld (cwd: string, serves: RemoteServe[], label: string, fault: () => Promise<void>): Promise<{ code: number | null, stderr: string }> {
  const delay = join((serves[2] as RemoteServe).host.dir, 'pause-delay')
  writeFileSync(delay, '2500')
  try {
    const [r] = await Promise.all([
      cli(['fleet', 'cp', pushable(cwd, label).path, FLEET_LIVE], { cwd, timeoutMs: 60_000 }),
      onHeld(serves[1] as RemoteServe, fault),
    ])
    return { code: r.code, stderr: r.stderr }
  } finally {
    rmSync(delay)
  }
}

test('a host killed while paused (its serve SIGKILLed, then its sshd): nothing switched anywhere, the others resume on their old file; back, the next fleet cp aborts its left stage and switches all', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t, { app: fixture('resume-fail-app.mjs') })
  const [, host2] = fleet.hosts as [Host, Host, Host]
  const others = [serves[0], serves[2]] as RemoteServe[]
  const loads = loadEach(others)

  const serveKilled = await faultWhileHeld(cwd, serves, 'v1', async () => { kill((serves[1] as RemoteServe).pid) })
  assert.equal(serveKilled.code, 1, serveKilled.stderr)
  assert.match(serveKilled.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: host2 did not pause; every host resumed on its old file, nothing changed on any host$/m)
  assert.match(serveKilled.stderr, /^ {2}host2: HOTSWAP_ERR_\w+ hold: /m)
  // The held socket's connection lost is the host's failure alone: no stray line about our input.
  assert.doesNotMatch(serveKilled.stderr, /HOTSWAP_ERR_SOURCE/)
  assert.match(serveKilled.stderr, /^ {4}its stage is left: .*\(remembered in .*: the next fleet cp to host2 aborts it first\)$/m)
  assert.match(serveKilled.stderr, /^ {2}host3: not paused yet, told to abort: resumed on its old file\n {4}its stage aborted$/m)
  await fleetAgrees(others, 'v0', 1)

  // Its serve started again: its pause undone at start-up, the old file live, the stage kept.
  const restarted = await fleet.serveOn(host2, { workers: 2, app: fixture('resume-fail-app.mjs') })
  serves[1] = restarted
  assert.equal((await request(restarted.port, '/label')).json().label, 'v0')
  const again = await cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(again.code, 0, again.stderr)
  await fleetAgrees(serves, 'v1', 2)

  const sshdKilled = await faultWhileHeld(cwd, serves, 'v2', async () => { await fleet.killSshd(host2) })
  assert.equal(sshdKilled.code, 1, sshdKilled.stderr)
  assert.match(sshdKilled.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: host2 did not pause; every host resumed on its old file, nothing changed on any host$/m)
  // The step named is the coordinator's view: "hold" once host2's PAUSED reached it, "pause" when
  // the sshd died (on host2's own "held paused" line) before that line got through.
  assert.match(sshdKilled.stderr, /^ {2}host2: HOTSWAP_ERR_UNREACHABLE (hold|pause): ssh failed/m)
  assert.doesNotMatch(sshdKilled.stderr, /HOTSWAP_ERR_SOURCE/)
  assert.match(sshdKilled.stderr, /^ {4}its stage is left: HOTSWAP_ERR_UNREACHABLE .*\(remembered in /m)
  await fleetAgrees(others, 'v1', 2)
  // host2 resumed at once (its held commit's connection closed), on its old file.
  assert.equal((await request(restarted.port, '/label', { timeoutMs: 5_000 })).json().label, 'v1')
  assert.ok(restarted.logs().some((l) => l.event === 'hold-abandoned'), 'host2 gave its held commit up')

  await fleet.restartSshd(host2)
  const back = await cli(['fleet', 'cp', pushable(cwd, 'v2').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(back.code, 0, back.stderr)
  await fleetAgrees(serves, 'v2', 3)

  noFailedRequests(await loads.stop(), others)
})
