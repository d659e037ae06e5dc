// `fleet cp` compares what every host received with the source itself: each host's stage
// reports the SHA-256 of the bytes as they came (before its checks set the live journal mode,
// which rewrites header bytes), and the coordinator its own SHA-256 of the file it sent. A host
// whose hotswap is reached through a wrapper that alters its stdin (one label changed: the file
// still passes every check) aborts everything with HOTSWAP_ERR_FLEET_MISMATCH naming it; so does
// a fleet where every host alters it the same way (their votes agree with each other, not with
// the source). A rollback-journal source into WAL lives (its staged digest is not the source's)
// still switches.

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { BIN, cli, fleetCoordinator, FLEET_LIVE, fleetAgrees, historyOf, type Host, remoteOf, seed, sh, startFleet } from '../support/index.js'

const sha = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`

test('a host that receives other bytes than the source\'s aborts every stage (HOTSWAP_ERR_FLEET_MISMATCH, its digest and the source\'s shown); so do hosts that all alter it alike; a rollback-journal source still switches', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t)
  // The wrapper: `cp` gets its stdin through alter.mjs (fleet-good becomes fleet-evil), the rest runs as is.
  writeFileSync(join(fleet.dir, 'alter.mjs'), "const c = []; for await (const b of process.stdin) c.push(b); const b = Buffer.concat(c); const i = b.indexOf('fleet-good'); if (i >= 0) b.write('fleet-evil', i); process.stdout.write(b)\n")
  const [node, alter] = [sh(process.execPath), sh(join(fleet.dir, 'alter.mjs'))]
  writeFileSync(join(fleet.dir, 'alter.sh'), `if [ "$1" = cp ]; then ${node} ${alter} | ${node} ${sh(BIN)} "$@"; exit $?; fi\nexec ${node} ${sh(BIN)} "$@"\n`)
  const altering = (h: Host): string => `cd ${sh(h.dir)} && sh ${sh(join(fleet.dir, 'alter.sh'))}`
  const one = fleetCoordinator(t, fleet, 10_000, (h) => h.name === 'host2' ? altering(h) : remoteOf(h))
  const src = join(cwd, 'good.sqlite3')
  seed(src, { label: 'fleet-good', wal: false })
  const source = sha(src)

  const r = await cli(['fleet', 'cp', src, FLEET_LIVE], { cwd: one, timeoutMs: 40_000 })
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout.toString(), '')
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_MISMATCH\] fleet cp to db\/live\.sqlite3: host2 received a file that differs from the source; every stage aborted, nothing changed on any host$/m)
  const line = new RegExp(`^ {2}host2: staged [0-9a-f]{8} \\(sha256:[0-9a-f]{12}, checked against generation 1\\): received (sha256:[0-9a-f]{12}), not the source's ${source.slice(0, 19)}\\n {4}its stage [0-9a-f]{8} aborted$`, 'm').exec(r.stderr)
  assert.ok(line, r.stderr)
  assert.notEqual(line[1], source.slice(0, 19))
  assert.match(r.stderr, /^ {2}host1: staged [0-9a-f]{8} \(sha256:[0-9a-f]{12}, checked against generation 1\)\n {4}its stage [0-9a-f]{8} aborted$/m)
  await fleetAgrees(serves, 'v0', 1)

  // Every host alters it alike: their staged digests agree, none is the source's.
  const all = fleetCoordinator(t, fleet, 10_000, altering)
  const alike = await cli(['fleet', 'cp', src, FLEET_LIVE], { cwd: all, timeoutMs: 40_000 })
  assert.equal(alike.code, 1, alike.stderr)
  assert.match(alike.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_MISMATCH\] fleet cp to db\/live\.sqlite3: host1, host2, host3 received a file that differs from the source; every stage aborted/m)
  await fleetAgrees(serves, 'v0', 1)

  // Unaltered: the rollback-journal source is staged in WAL form (another digest), and switches.
  const ok = await cli(['fleet', 'cp', src, FLEET_LIVE], { cwd: fleetCoordinator(t, fleet), timeoutMs: 40_000 })
  assert.equal(ok.code, 0, ok.stderr)
  await fleetAgrees(serves, 'fleet-good', 2)
  const [db] = await historyOf((serves[0] as (typeof serves)[number]).socket, ['live'])
  const live = db?.generations.find((g) => g.live)
  assert.ok(live?.digest !== undefined && live.digest !== null && live.digest !== source, `the live file (WAL form) is not the source's bytes: ${live?.digest ?? '?'}`)
})
