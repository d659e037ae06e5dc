// The progress display of `cp` (issue 6): the formatters, and the display's behaviour on a
// terminal and off one, with a fake stream and a fake clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { formatDuration, formatProgress, formatTransferred, Progress } from '../../src/client/progress.js'

const MiB = 1024 * 1024

test('formatProgress: bytes of total, percent, rate and ETA when the size is known', () => {
  assert.equal(formatProgress({ direction: 'push', bytes: 12 * MiB, total: 40 * MiB, elapsedMs: 1500 }),
    'push 12.0 MiB / 40.0 MiB (30%), 8.0 MiB/s, ETA 3.5 s')
  assert.equal(formatProgress({ direction: 'pull', bytes: 12 * MiB, total: null, elapsedMs: 1500 }), 'pull 12.0 MiB, 8.0 MiB/s')
  // No rate (and so no ETA) from the first instants of a transfer.
  assert.equal(formatProgress({ direction: 'push', bytes: 64 * 1024, total: 40 * MiB, elapsedMs: 3 }), 'push 64.0 KiB / 40.0 MiB (0%)')
  // Done, or more bytes than announced (a growing file): 100% and no ETA.
  assert.equal(formatProgress({ direction: 'push', bytes: 41 * MiB, total: 40 * MiB, elapsedMs: 1000 }), 'push 41.0 MiB / 40.0 MiB (100%), 41.0 MiB/s')
  assert.equal(formatProgress({ direction: 'push', bytes: 0, total: 0, elapsedMs: 0 }), 'push 0 B / 0 B (100%)')
})

test('formatTransferred and formatDuration', () => {
  assert.equal(formatTransferred({ direction: 'pull', bytes: 40 * MiB, total: null, elapsedMs: 500 }), 'pull 40.0 MiB in 0.5 s (80.0 MiB/s)')
  assert.equal(formatTransferred({ direction: 'push', bytes: 0, total: 0, elapsedMs: 0 }), 'push 0 B in 0.0 s')
  assert.equal(formatDuration(1234), '1.2 s')
  assert.equal(formatDuration(42_400), '42 s')
  assert.equal(formatDuration(125_000), '2 min 5 s')
  assert.equal(formatDuration(3_725_000), '1 h 2 min')
})

function fakeStream (isTTY: boolean): { stream: { isTTY: boolean, columns: number, write: (t: string | Buffer) => boolean }, text: () => string } {
  let out = ''
  return { stream: { isTTY, columns: 100, write: (t) => { out += t.toString(); return true } }, text: () => out }
}

test('off a terminal the display writes nothing of its own, and passes server lines through', async () => {
  const { stream, text } = fakeStream(false)
  const p = new Progress('push', 100, { stream })
  assert.equal(p.enabled, false)
  const source = new PassThrough()
  assert.equal(p.count(source), source, 'the source is handed over as is')
  p.add(50)
  p.print('ERROR [HOTSWAP_ERR_INTEGRITY] bad\n')
  p.endTransfer()
  p.finish(0)
  assert.equal(text(), 'ERROR [HOTSWAP_ERR_INTEGRITY] bad\n')
})

test('on a terminal: one live line redrawn at most every interval, server lines above it, a summary, done', async () => {
  let now = 1000
  const { stream, text } = fakeStream(true)
  const p = new Progress('push', 4 * MiB, { stream, now: () => now, intervalMs: 100 })
  assert.equal(p.enabled, true)
  const counted = p.count(new PassThrough().end(Buffer.alloc(1)))
  p.add(MiB) // First bytes: drawn at once.
  now += 50
  p.add(MiB) // Within the interval: not drawn.
  assert.equal(text(), '\rpush 1.0 MiB / 4.0 MiB (25%)\x1b[K')
  now += 450
  p.add(MiB)
  assert.equal(text().split('\r').at(-1), 'push 3.0 MiB / 4.0 MiB (75%), 6.0 MiB/s, ETA 0.2 s\x1b[K')
  p.print('a server line\n') // Clears the live line, prints, redraws.
  assert.ok(text().endsWith('\r\x1b[Ka server line\n\rpush 3.0 MiB / 4.0 MiB (75%), 6.0 MiB/s, ETA 0.2 s\x1b[K'), JSON.stringify(text()))
  for await (const chunk of counted) void chunk // The source ends: the transfer is over.
  assert.ok(text().endsWith('\r\x1b[Kpush 3.0 MiB in 0.5 s (6.0 MiB/s)\n'), JSON.stringify(text()))
  p.print('received 3.0 MiB, validating…\n')
  now += 700
  p.finish(0)
  assert.ok(text().endsWith('received 3.0 MiB, validating…\ndone in 1.2 s\n'), JSON.stringify(text()))
})

test('on a terminal, a failure clears the live line and adds nothing', () => {
  let now = 0
  const { stream, text } = fakeStream(true)
  const p = new Progress('pull', null, { stream, now: () => now })
  p.add(10)
  now += 10
  p.finish(1)
  assert.equal(text(), '\rpull 10 B\x1b[K\r\x1b[K')
})
