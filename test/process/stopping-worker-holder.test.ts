// A worker on its way out (stopped after --listen-timeout, draining
// its work for up to --kill-timeout) is not paused by a swap, and the /proc scan left it out
// with every other worker, so a push renamed the file under its open connection: what it read
// and wrote afterwards went to the unlinked old file. Now only the live workers (paused, each
// scanning itself) are left out of the scan, and the stopping one is named in the refusal.
// Fixture: test/fixtures/unready-app.mjs (worker 2 never calls ready()).

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, labelOf, request, seed, type Served, startServe, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  served = await startServe({
    dir: t.dir, dbs: [live], workers: 2, app: fixture('unready-app.mjs'),
    args: ['--wait-ready', '--listen-timeout', '2500', '--kill-timeout', '30000'],
  })
})

after(async () => {
  writeFileSync(join(t.dir, 'release'), '')
  await served?.stop()
  t?.cleanup()
})

test('a stopping worker that still has the database open is named in a refusal, not swapped under', async () => {
  const timedOut = await served.waitForLog(/^worker 2 \(pid \d+\) did not become ready/)
  const pid = Number(/pid (\d+)/.exec(String(timedOut.message))?.[1])
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v1' })

  const refused = await cli(['cp', next, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_DB_BUSY\\] .*worker 2 \\(pid ${pid}, stopping`))
  assert.equal(labelOf(live), 'v0')
  assert.equal((await request(served.port, '/', { keepAlive: false })).json().label, 'v0')

  // Once it has finished its work and exited, the push goes through. (On a loaded machine a
  // worker may miss the listen timeout and be on its way out for a moment: that is a refusal
  // too, so try again until none is.)
  writeFileSync(join(t.dir, 'release'), '')
  await served.waitForLog(new RegExp(`^worker 2 \\(pid ${pid}\\) died`))
  let last = ''
  await waitUntil('a push with no stopping worker left', async () => {
    const pushed = await cli(['cp', next, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
    last = pushed.stderr
    if (pushed.code === 0) return true
    assert.match(pushed.stderr, /HOTSWAP_ERR_DB_BUSY.*stopping/)
    return false
  }, 30_000).catch((err: Error) => { throw new Error(`${err.message}; last: ${last}`) })
  assert.equal(labelOf(live), 'v1')
})
