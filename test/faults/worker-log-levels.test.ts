// A sibling of issue 10, item 1: the primary re-logs its workers' JSON lines with the level they
// name. A level from Object.prototype ("constructor", "toString", …) or one winston does not
// know was dropped without a word; such a line is now passed on as the app's own output.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fixture, request, seed, startServe, tempDir, type Served } from '../helpers.js'

let t: ReturnType<typeof tempDir>
let served: Served

before(async () => {
  t = tempDir()
  const live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  served = await startServe({ dir: t.dir, dbs: [live], workers: 1, app: fixture('odd-levels-app.mjs') })
})

after(async () => {
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
})

test('worker lines with a level named constructor, toString, __proto__, … reach the primary\'s log', async () => {
  for (const level of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'notice']) {
    const line = await served.waitForLog(new RegExp(`odd-levels-app: level ${level}`), 10_000)
    assert.equal(line.role, 'worker 1')
  }
  const res = await request(served.port, '/label', { keepAlive: false })
  assert.equal(res.status, 200)
  assert.equal(res.json().label, 'v0')
})
