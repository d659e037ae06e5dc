// The primary re-logs its workers' JSON lines with the level they
// name. A level from Object.prototype ("constructor", "toString", …) or one winston does not
// know was dropped without a word; such a line is now passed on as the app's own output.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fixture, request, type Served, serveLiveForFile } from '../support/index.js'

let served: Served

serveLiveForFile({ workers: 1, app: fixture('odd-levels-app.mjs') }, (s) => { ({ served } = s) })

test('worker lines with a level named constructor, toString, __proto__, … reach the primary\'s log', async () => {
  for (const level of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'notice']) {
    const line = await served.waitForLog(new RegExp(`odd-levels-app: level ${level}`), 10_000)
    assert.equal(line.role, 'worker 1')
  }
  const res = await request(served.port, '/label', { keepAlive: false })
  assert.equal(res.status, 200)
  assert.equal(res.json().label, 'v0')
})
