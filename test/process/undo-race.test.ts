// An undo that waits for the swap lock behind a push: it chose its generation against the live
// one before the lock, and the push changes that. It is refused (HOTSWAP_ERR_UNKNOWN_GENERATION,
// nothing changed) rather than undoing something else, or failing on a kept file the push
// removed (a raw ENOENT, HOTSWAP_ERR_INTERNAL, found by the frame fuzzer).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { cli, fixture, labelOf, seed, type Served, serveLiveForFile, sleep, tempDir, waitInFlight } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 1, label: 'v1', app: fixture('faults-app.mjs'), args: ['--drain-timeout', '60000'] }, (s) => { ({ t, served, live } = s) })

test('an undo queued behind a push is refused, nothing changed; once the push is done, undo undoes it', async () => {
  const v2 = join(t.dir, 'v2.sqlite3')
  seed(v2, { label: 'v2' })
  const first = await cli(['cp', v2, 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(first.code, 0, first.stderr) // live: v2 (generation 2), kept: v1 (1)

  // A slow request holds the next push in its pause, with the swap lock taken.
  const slow = http.get({ host: '127.0.0.1', port: served.port, path: '/slow?ms=30000', agent: false })
  slow.on('error', () => {})
  await waitInFlight(served.socket, 1)
  const v3 = join(t.dir, 'v3.sqlite3')
  seed(v3, { label: 'v3' })
  const count = (re: RegExp): number => served.logs().filter((l) => re.test(String(l.message))).length
  const push = cli(['cp', v3, 'live', '--socket', served.socket], { cwd: t.dir })
  for (let i = 0; i < 1500 && count(/^lock taken for live$/) < 2; i++) await sleep(20)
  const undo = cli(['undo', '--socket', served.socket], { cwd: t.dir })
  for (let i = 0; i < 1500 && count(/^undo of live: waiting for the swap lock$/) === 0; i++) await sleep(20)
  assert.equal(count(/^undo of live: waiting for the swap lock$/), 1, 'the undo waits behind the push')
  slow.destroy()

  const [p, u] = await Promise.all([push, undo])
  assert.equal(p.code, 0, p.stderr)
  assert.equal(u.code, 1)
  assert.match(u.stderr, /^ERROR \[HOTSWAP_ERR_UNKNOWN_GENERATION\] another swap of live ran while this undo waited for the swap lock \(generation 3 is live now, not 2\); nothing was changed/)
  assert.equal(u.stdout.toString(), '')
  assert.equal(labelOf(live), 'v3', 'the push is live; the undo changed nothing')

  const again = await cli(['undo', '--socket', served.socket], { cwd: t.dir })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(labelOf(live), 'v2', 'undo now undoes the push it sees')
})
