// A host's packets dropped after it acked its pause (an iptables DROP on its loopback address,
// in this file's own network namespace, once its held commit logged "held paused"), under HTTP
// load, while another host is still pausing (its onPause hook waits a second): the go is sent to every host once all
// are paused, and never reaches the cut-off one. The others switch; the cut-off host's ssh gives
// up, its retry cannot reach it, so the switched hosts are undone (HOTSWAP_ERR_FLEET_UNDONE): the
// fleet ends all old. The cut-off host resumes on its own at the end of its hold, on its old file,
// and answers the requests that queued meanwhile. Reached again, the next fleet cp aborts the
// stage left there first and switches every host.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, FLEET_LIVE, fleetAgrees, type Host, loadEach, noFailedRequests, onHeld, ownNetworkNamespace, pushable, request, type RemoteServe, startFleet } from '../support/index.js'

const isolation = await ownNetworkNamespace()

test('a host cut off after its pause ack: the switched hosts are undone, the cut-off host resumes after its hold, every host on its old file, no request failed; reached again, the next fleet cp switches all', async (t) => {
  assert.ok(isolation.isolated, `this test needs its own network namespace: ${isolation.why ?? ''}`)
  const { fleet, serves, cwd } = await startFleet(t, { app: fixture('resume-fail-app.mjs') })
  const [, host2] = fleet.hosts as [Host, Host, Host]
  const loads = loadEach(serves)
  const host2Serve = serves[1] as RemoteServe

  let queued: ReturnType<typeof request> | undefined
  // host3 pauses a second late (its onPause hook waits): the go waits for it, host2 is cut off meanwhile.
  const delay = join((serves[2] as RemoteServe).host.dir, 'pause-delay')
  writeFileSync(delay, '1000')
  const [r] = await Promise.all([
    cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE, '--hold', '8000'], { cwd, timeoutMs: 60_000 }),
    onHeld(host2Serve, () => {
      fleet.cutOff(host2)
      // Sent while host2 is paused: it waits for the end of the hold, then runs on the old file.
      queued = request(host2Serve.port, '/label', { keepAlive: false })
    }),
  ])
  rmSync(delay)
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_UNDONE\] fleet cp to db\/live\.sqlite3: host2 could not switch; host1, host3 undone: every host serves its old file/m)
  assert.match(r.stderr, /^ {2}host2: HOTSWAP_ERR_\w+ switch: /m)
  assert.match(r.stderr, /^ {2}host1: switched, then undone$/m)
  assert.match(r.stderr, /^ {2}host3: switched, then undone$/m)
  assert.match(r.stderr, /^ {2}host2: its stage is left: .*\(remembered in .*: the next fleet cp to host2 aborts it first\)$/m)
  assert.equal((await queued)?.json().label, 'v0', 'the request queued on the cut-off host ran on its old file after its hold')
  assert.ok(host2Serve.logs().some((l) => l.event === 'hold-abandoned'), 'host2 resumed at the end of its hold')
  await fleetAgrees(serves.filter((s) => s.host !== host2), 'v0')
  assert.equal((await request(host2Serve.port, '/label')).json().label, 'v0')

  fleet.restore(host2)
  const again = await cli(['fleet', 'cp', pushable(cwd, 'v1').path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(again.code, 0, again.stderr)
  await fleetAgrees(serves, 'v1')

  noFailedRequests(await loads.stop(), serves)
})
