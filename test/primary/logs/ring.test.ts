// LogRing (src/primary/logs/ring.ts): the primary's recent records as a winston transport: the
// last N (of one worker), oldest first; bounded to RING_RECORDS; followers get each new record.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import winston from 'winston'
import { LogRing, RING_RECORDS, type LogLine } from '../../../src/primary/logs/ring.js'

function logger (): { ring: LogRing, log: winston.Logger } {
  const ring = new LogRing()
  return { ring, log: winston.createLogger({ level: 'info', transports: [ring] }) }
}

const messages = (lines: LogLine[]): unknown[] => lines.map((l) => (JSON.parse(l.line) as { message: string }).message)

test('recent: the last N records, oldest first, of one worker when asked; JSON lines with a timestamp', () => {
  const { ring, log } = logger()
  for (let i = 0; i < 6; i++) log.child({ role: `worker ${1 + (i % 2)}` }).info(`m${i}`, { i })
  log.child({ role: 'primary' }).debug('not at this level')
  assert.deepEqual(messages(ring.recent({ lines: 3 })), ['m3', 'm4', 'm5'])
  assert.deepEqual(messages(ring.recent({ lines: 100, worker: 2 })), ['m1', 'm3', 'm5'])
  assert.deepEqual(ring.recent({ lines: 0 }), [])
  const first = JSON.parse((ring.recent({ lines: 100 })[0] as LogLine).line) as Record<string, unknown>
  assert.equal(first.role, 'worker 1')
  assert.equal(first.i, 0)
  assert.match(String(first.timestamp), /^\d{4}-\d\d-\d\dT/)
})

test('bounded: the oldest records go first; followers see every new one until they stop', () => {
  const { ring, log } = logger()
  const seen: LogLine[] = []
  const stop = ring.subscribe((l) => seen.push(l))
  for (let i = 0; i < RING_RECORDS + 50; i++) log.info(`m${i}`)
  stop()
  log.info('after')
  const all = ring.recent({ lines: RING_RECORDS * 2 })
  assert.equal(all.length, RING_RECORDS)
  assert.equal(messages(all)[0], 'm51')
  assert.equal(messages(all).at(-1), 'after')
  assert.equal(seen.length, RING_RECORDS + 50)
})
