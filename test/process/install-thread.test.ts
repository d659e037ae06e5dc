// The install waited behind other work inside the pause. It shared the piscina
// pool (2 threads) with validations, so with other pushes being checked it queued, with every
// worker paused, until a validation ended (0.8-1.2 s measured). The install (and the holder scan
// before the pause) now run on the swap's own thread.
//
// No timing is asserted, only an order, from the timestamps the threads record: the install
// started before the validations that kept both shared threads busy at its submission ended.
// On a shared pool it could not: it had to wait for one of them to end. The validations are
// kept busy for as long as the test needs: an outside process holds an exclusive lock on the
// database they compare with, so each waits in its read of the live schema.
//
//   hold a request ─▶ push B to `live`: validated, lock, pause waits for the held request
//   lock `other` ─▶ 2 pushes to `other`: both shared threads wait in their validation
//   release the request ─▶ B's install is submitted while they wait ─▶ B completes ─▶ unlock

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { cli, fixture, integrity, labelOf, leftovers, load, report, request, seed, type Served, sleep, startServe, tempDir, waitInFlight, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let other: string
let traffic: ReturnType<typeof load> | undefined

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  other = join(t.dir, 'other.sqlite3')
  seed(live, { label: 'v0' })
  // Rollback-journal mode: a reader waits while another process holds an EXCLUSIVE lock.
  seed(other, { label: 'o0', wal: false })
  served = await startServe({ dir: t.dir, dbs: [live, other], workers: 1, app: fixture('faults-app.mjs') })
})

after(async () => {
  await traffic?.stop()
  await served?.stop()
  t?.cleanup()
})

const messages = (re: RegExp): Array<Record<string, unknown>> => served.logs().filter((l) => re.test(String(l.message)))

/** The temp files of pushes to `other` that the server has open (its validations, once received). */
function openUploadsOfOther (): number {
  const seen = new Set<string>()
  for (const fd of readdirSync(`/proc/${served.pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${served.pid}/fd/${fd}`)
      if (/\/\.other\.sqlite3\.hotswap-[0-9a-f]+\.tmp$/.test(target)) seen.add(target)
    } catch { /* closed meanwhile */ }
  }
  return seen.size
}

test('the install does not queue behind other pushes\' validations while every worker is paused', async (tt) => {
  const release = join(t.dir, 'release')
  const held = request(served.port, `/hold?file=${encodeURIComponent(release)}`)
  await waitInFlight(served.socket, 1)
  // HTTP load throughout: requests queue during the pause and are answered after it.
  traffic = load(served.port, { paths: ['/label'], concurrency: 4 })

  const small = join(t.dir, 'small.sqlite3')
  seed(small, { label: 'small' })
  const pushB = cli(['cp', small, 'live', '--socket', served.socket], { cwd: t.dir })
  // B's validation is over and it holds the lock: from here on it uses the swap's thread only,
  // and its pause waits for the held request.
  await served.waitForLog(/^lock taken for live/)

  const outsider = new Database(other)
  outsider.exec('BEGIN EXCLUSIVE')
  let unlocked = false
  const unlock = (): void => { if (!unlocked) { unlocked = true; outsider.close() } }
  try {
    const next = join(t.dir, 'next-other.sqlite3')
    seed(next, { label: 'o1', wal: false })
    const pushes = [1, 2].map(async () => await cli(['cp', next, 'other', '--socket', served.socket], { cwd: t.dir }))
    await waitUntil('both uploads to other received', () => messages(/^received \d+ bytes for other/).length >= 2, 30_000)
    await waitUntil('both validations of other running', () => openUploadsOfOther() >= 2, 30_000)
    writeFileSync(release, '')

    // The lock is released once B is done. On a shared pool B's install would wait for these
    // validations, and they for the lock: after a while the lock goes anyway, so that the old
    // code fails on the order below instead of on a busy timeout.
    const b = await Promise.race([pushB, sleep(3000).then(() => null)])
    unlock()
    const bDone = b ?? await pushB
    assert.equal(bDone.code, 0, bDone.stderr)
    assert.equal((await held).status, 200)
    for (const r of await Promise.all(pushes)) assert.equal(r.code, 0, r.stderr)
  } finally {
    unlock()
  }

  const pause = messages(/^pause window .* for live/)[0] as { installStartedAt: number, timings: { queued: number } }
  assert.equal(typeof pause.installStartedAt, 'number', 'the pause window line says when the install started')
  const submittedAt = pause.installStartedAt - pause.timings.queued
  const checks = messages(/^checks passed for other/) as Array<{ startedAt: number, endedAt: number }>
  assert.equal(checks.length, 2)
  const running = checks.filter((c) => c.startedAt < submittedAt && submittedAt < c.endedAt)
  assert.equal(running.length, 2, 'both shared threads were validating when the install was submitted')
  const firstEnd = Math.min(...running.map((c) => c.endedAt))
  assert.ok(pause.installStartedAt < firstEnd,
    `the install started ${(pause.installStartedAt - firstEnd).toFixed(1)} ms after the first validation running at its submission ended`)

  const http = await traffic.stop()
  assert.equal(http.failed, 0, http.errors.join('\n'))
  report(tt, 'the install submitted while other pushes\' validations fill the shared threads (it starts at once on the swap\'s thread)', {
    faults: 1, survived: 1, lost: 0, tempLeft: leftovers(t.dir).length, requestsOk: http.ok, requestsFailed: http.failed,
  })

  assert.equal(labelOf(live), 'small')
  assert.equal(labelOf(other), 'o1')
  assert.deepEqual(integrity(live), ['ok'])
  assert.equal((await request(served.port, '/label')).json().label, 'small')
  assert.deepEqual(leftovers(t.dir), [])
})
