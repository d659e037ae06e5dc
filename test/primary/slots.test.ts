// src/primary/slots.ts: the crash-loop guard's count and backoff per slot, a given-up slot kept
// with its last error until revive(), and scale's resize forgetting the slots above N.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Slots } from '../../src/primary/slots.js'

test('quick crashes in a row back off, doubling to 10 s; a long run starts the count again', () => {
  const s = new Slots(2)
  const delays = Array.from({ length: 9 }, () => s.crashed(1, 10, 1000).delayMs)
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000])
  assert.deepEqual(s.crashed(1, 5000, 1000), { quick: 0, delayMs: 0 })
  assert.equal(s.crashed(2, 10, 1000).quick, 1, 'each slot counts its own')
})

test('a given-up slot is kept with its last error until revive(), which starts its count again', () => {
  const s = new Slots(3)
  s.crashed(2, 10, 1000)
  s.crashed(2, 10, 1000)
  s.giveUp(2, { error: 'crash loop', at: 1, pid: 42, app: '/app.js' })
  assert.deepEqual(s.givenUp(), [{ slot: 2, error: 'crash loop', at: 1, pid: 42, app: '/app.js' }])
  assert.equal(s.allGivenUp(), false)
  s.revive(2)
  assert.deepEqual(s.givenUp(), [])
  assert.equal(s.crashed(2, 10, 1000).quick, 1, 'a fresh count after revive')
})

test('resize: slots above N are forgotten, their restart timers cleared; restarts counted when they run', async () => {
  const s = new Slots(3)
  let ran = 0
  s.restartLater(3, 10, () => { ran++ })
  s.giveUp(2, { error: 'x', at: 1, pid: 1, app: null })
  s.resize(1)
  assert.equal(s.wanted, 1)
  assert.equal(s.has(2), false)
  assert.deepEqual(s.givenUp(), [], 'a removed slot is no longer given up')
  s.restartLater(1, 0, () => { ran += 10 })
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(ran, 10, 'the removed slot\'s restart never ran')
  assert.equal(s.restartsOf(1), 1)
  s.resize(2)
  s.giveUp(1, { error: 'a', at: 1, pid: 1, app: null })
  s.giveUp(2, { error: 'b', at: 1, pid: 2, app: null })
  assert.equal(s.allGivenUp(), true)
})
