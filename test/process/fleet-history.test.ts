// `hotswap fleet history LIVE [--json]`: every host's generations of one database, merged by
// digest: one row per file, which hosts keep it (as which generation) and where it is live; "the
// hosts agree" when one known file is live on all of them, else exit 1 saying which hosts differ
// (HOTSWAP_ERR_FLEET_DISAGREES) or which cannot be reached (HOTSWAP_ERR_UNREACHABLE).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, FLEET_LIVE, type FleetHistory, type Host, pushable, startFleet } from '../support/index.js'

test('fleet history merges the hosts\' generations by digest, marks where each is live, and says whether the hosts agree', async (t) => {
  const { fleet, cwd } = await startFleet(t)
  const [host1] = fleet.hosts as [Host]
  const v1 = pushable(cwd, 'v1')
  const r = await cli(['fleet', 'cp', v1.path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)

  const text = await cli(['fleet', 'history', FLEET_LIVE], { cwd })
  assert.equal(text.code, 0, text.stderr)
  const out = text.stdout.toString()
  assert.match(out, /^db\/live\.sqlite3 on host1, host2, host3$/m)
  const [, digest] = /^ {2}\* (sha256:[0-9a-f]{12}) {2}\S+ +\S+ \S+ {2}host1 #2 \(live\), host2 #2 \(live\), host3 #2 \(live\)$/m.exec(out) ?? []
  assert.ok(digest, out)
  assert.match(out, new RegExp(`^the hosts agree: ${digest} is live on all 3$`, 'm'))

  const json = await cli(['fleet', 'history', 'live', '--json'], { cwd })
  assert.equal(json.code, 0, json.stderr)
  const report = JSON.parse(json.stdout.toString()) as FleetHistory
  assert.equal(report.agrees, true)
  assert.deepEqual(report.hosts.map((h) => [h.name, h.reachable, h.live?.generation]), [['host1', true, 2], ['host2', true, 2], ['host3', true, 2]])
  const [newest, ...older] = report.generations
  assert.deepEqual(newest?.liveOn, ['host1', 'host2', 'host3'])
  assert.deepEqual(newest?.hosts, [{ name: 'host1', generation: 2, live: true }, { name: 'host2', generation: 2, live: true }, { name: 'host3', generation: 2, live: true }])
  assert.equal(newest?.bytes, v1.bytes.length)
  // Each host's first generation (the file it started with) is listed, live nowhere.
  assert.deepEqual(older.flatMap((g) => g.hosts.map((h) => `${h.name} #${h.generation}`)).sort(), ['host1 #1', 'host2 #1', 'host3 #1'])
  assert.ok(older.every((g) => g.liveOn.length === 0))
  assert.deepEqual(report.staged, [])

  // host1 pushed on its own: its new file is a row of its own, live on host1 only; exit 1.
  const pushed = await fleet.hotswap(host1, ['cp', '-', FLEET_LIVE], { input: pushable(cwd, 'v2').bytes })
  assert.equal(pushed.code, 0, pushed.stderr)
  const split = await cli(['fleet', 'history', FLEET_LIVE], { cwd })
  assert.equal(split.code, 1, split.stderr)
  assert.match(split.stdout.toString(), /^ {2}\* sha256:[0-9a-f]{12} .* {2}host1 #3 \(live\)$/m)
  assert.match(split.stdout.toString(), new RegExp(`^ {2}\\* ${digest} .* {2}host1 #2, host2 #2 \\(live\\), host3 #2 \\(live\\)$`, 'm'))
  assert.match(split.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_FLEET_DISAGREES\\] the hosts do not agree: live: host1 sha256:[0-9a-f]{12} vs host2, host3 ${digest}$`, 'm'))
  const splitJson = JSON.parse((await cli(['fleet', 'history', FLEET_LIVE, '--json'], { cwd })).stdout.toString()) as FleetHistory
  assert.equal(splitJson.agrees, false)
  assert.deepEqual(splitJson.generations.slice(0, 2).map((g) => g.liveOn), [['host1'], ['host2', 'host3']])

  // A host that cannot be reached (a name no ssh config knows): listed, exit 1.
  const unknown = await cli(['fleet', 'history', FLEET_LIVE, '--hosts', 'host2,nosuchhost.invalid'], { cwd })
  assert.equal(unknown.code, 1, unknown.stderr)
  assert.match(unknown.stdout.toString(), /^ {2}nosuchhost\.invalid {2}unreachable {2}HOTSWAP_ERR_UNREACHABLE history: ssh failed: /m)
  assert.match(unknown.stderr, /^ERROR \[HOTSWAP_ERR_UNREACHABLE\] the hosts do not agree: unreachable: nosuchhost\.invalid; live: host2 sha256:[0-9a-f]{12}$/m)
})
