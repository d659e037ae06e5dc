// A worker whose resume failed is replaced outside
// the swap lock, and the old worker was stopped the moment its replacement became ready, even
// inside the pause of the next swap. Its shutdown reopens its database and releases its queued
// requests at once: they ran on the old file while it was being swapped out, and their writes
// (answered 200) were lost with it. Now the old worker is stopped only between swaps.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, countLogs, fixture, type HttpResult, pushable, report, request, type Served, serveLiveForFile, sleep, status, tempDir, waitLogCount, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, app: fixture('replace-race-app.mjs') }, (s) => { ({ t, served, live } = s) })

const candidate = (label: string): string => pushable(t.dir, label, 0).path

test('a replacement that becomes ready inside the next swap\'s pause: the old worker is stopped after it, no write answered 200 is lost', async (tt) => {
  const before = (await status(served.socket)).workers.map((w) => w.pid)
  // Swap 1: both workers fail their resume; their replacements listen 2 s after they start.
  writeFileSync(join(t.dir, 'resume-throws'), '')
  writeFileSync(join(t.dir, 'listen-delay'), '2000')
  const first = await cli(['cp', candidate('v1'), 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(first.code, 1, first.stderr)
  assert.match(first.stderr, /HOTSWAP_ERR_WORKER_FAILED/)
  rmSync(join(t.dir, 'resume-throws'))
  // The first replacement has had its handshake answered (a swap does not hold it) and waits to listen.
  await waitUntil('a replacement online', async () => (await status(served.socket)).workers.some((w) => !before.includes(w.pid) && w.state === 'online'))

  // Swap 2 at once, with a pause that lasts 4 s: the first replacement becomes ready inside it.
  writeFileSync(join(t.dir, 'pause-delay'), '4000')
  const pausing0 = countLogs(served, /^replace-race-app: pausing/)
  const second = cli(['cp', candidate('v2'), 'live', '--socket', served.socket], { cwd: t.dir })
  let done = false
  void second.finally(() => { done = true })
  await waitLogCount(served, /^replace-race-app: pausing/, pausing0 + 2, 30_000)
  // Writes sent during the pause: queued, then run on the new file.
  const writes: Array<Promise<HttpResult | Error>> = []
  for (let id = 1; !done && id < 400; id++) {
    writes.push(request(served.port, `/write?id=${id}`, { keepAlive: false }).catch((err: Error) => err))
    await sleep(50)
  }
  const res = await second
  rmSync(join(t.dir, 'pause-delay'))
  rmSync(join(t.dir, 'listen-delay'))
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  const results = await Promise.all(writes)
  const ok: number[] = []
  for (const [i, r] of results.entries()) {
    assert.ok(!(r instanceof Error), `write ${i + 1} failed: ${String(r)}`)
    assert.equal(r.status, 200, r.body)
    ok.push(i + 1)
  }
  assert.ok(ok.length > 0)
  const db = new Database(live, { readonly: true, fileMustExist: true })
  let stored: Set<number>
  try {
    stored = new Set(db.prepare('SELECT id FROM items').pluck().all() as number[])
  } finally {
    db.close()
  }
  const lost = ok.filter((id) => !stored.has(id))
  assert.deepEqual(lost, [], `${lost.length} of ${ok.length} write(s) answered 200 during the pause are not in the new file`)
  tt.diagnostic(`${ok.length} write(s) during the pause, all on the new file`)
  report(tt, 'replacement ready inside the next pause', { faults: 1, survived: 1, lost: lost.length, tempLeft: 0, requestsOk: ok.length, requestsFailed: 0 })
})
