// A client that goes away without a word: it disconnects mid-upload, after the whole file but
// before end-of-input, or mid-pull. Each changes nothing, leaves no temp file or snapshot, and
// the next push works. (A client SIGKILLed at exact points of an upload, under load, is
// client-kill.test.ts.)

import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { join } from 'node:path'
import { cli, frame, labelOf, labels, leftovers, pushable, pushOk, seed, type Served, serveLiveForFile, sleep, status, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

/** A raw connection to the control socket; its errors are ignored (each test cuts it off). */
async function connected (): Promise<net.Socket> {
  const socket = net.connect(served.socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  return socket
}

test('a client that disconnects mid-upload changes nothing and leaves no temp file', async () => {
  const { bytes } = pushable(t.dir, 'never', 5000)
  assert.ok(bytes.length > 100 * 1024)

  const socket = await connected()
  // Two whole stdin frames and half of a third; no end-of-input.
  const part = Buffer.concat([
    frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })),
    frame(0, bytes.subarray(0, 32 * 1024)),
    frame(0, bytes.subarray(32 * 1024, 64 * 1024)),
    frame(0, bytes.subarray(64 * 1024, 128 * 1024)).subarray(0, 5 + 16 * 1024),
  ])
  await new Promise<void>((resolve) => socket.write(part, () => resolve()))
  // The upload is under way once its temp file exists beside the live database.
  for (let i = 0; i < 250 && leftovers(t.dir).length === 0; i++) await sleep(20)
  assert.equal(leftovers(t.dir).length, 1, 'the server started receiving into a temp file')
  socket.destroy()

  await served.waitForLog(/command cp failed: \[HOTSWAP_ERR_ABORTED\]/)
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [], 'the temp file is removed')
  assert.equal(labelOf(live), 'v1')
  assert.deepEqual(await labels(served.port), ['v1', 'v1', 'v1', 'v1'])
  assert.equal((await status(served.socket)).workers.length, 2, 'the server still answers commands')

  await pushOk(served, 'after-disconnect')
})

test('a client that disconnects after the whole file but before end-of-input aborts the push', async () => {
  const before = labelOf(live)
  const { bytes } = pushable(t.dir, 'never-eof')
  const socket = await connected()
  const logsBefore = served.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length
  await new Promise<void>((resolve) => socket.write(Buffer.concat([
    frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })),
    frame(0, bytes),
  ]), () => resolve()))
  for (let i = 0; i < 250 && leftovers(t.dir).length === 0; i++) await sleep(20)
  assert.equal(leftovers(t.dir).length, 1, 'the server started receiving into a temp file')
  socket.destroy()
  for (let i = 0; i < 500; i++) {
    if (served.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length > logsBefore) break
    await sleep(20)
  }
  assert.ok(served.logs().filter((l) => /HOTSWAP_ERR_ABORTED/.test(String(l.message))).length > logsBefore, 'the push was aborted')
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [])
  assert.equal(labelOf(live), before)
  assert.deepEqual(await labels(served.port), [before, before, before, before])
})

test('a client that disconnects mid-pull leaves no snapshot behind', async () => {
  const current = labelOf(live)
  // A live database large enough that its snapshot takes many stdout frames.
  const big = join(t.dir, 'big.sqlite3')
  // Larger than what the socket buffers hold (4 MiB queued on our side plus the kernel's).
  seed(big, { label: current, rows: 600_000 })
  const pushed = await cli(['cp', big, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(pushed.code, 0, pushed.stderr)

  const socket = await connected()
  const firstData = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  // Reading stops after the first chunk, so the server runs into backpressure, then the close.
  socket.write(frame(3, JSON.stringify({ args: ['cp', 'live.sqlite3', '-'], tty: false })))
  await firstData
  socket.pause()
  socket.destroy()

  await served.waitForLog(/command cp failed: \[HOTSWAP_ERR_ABORTED\] the client disconnected during the pull/)
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [], 'the snapshot file is removed')
  assert.deepEqual(await labels(served.port), [current, current, current, current])
  await pushOk(served, 'after-pull-disconnect')
})
