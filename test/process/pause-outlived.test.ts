// An onPause hook that outlasts the primary's wait
// for the pause ack. The primary gives up, refuses the push and resumes the worker (its gate
// opens, the requests run); then the hook returned and the old pause went on to close the
// database, with nothing left to reopen it: every later request of that worker failed with
// HOTSWAP_ERR_PAUSED until the next swap. A pause the primary has given up on now stops there.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, countLogs, fixture, labelOf, report, request, seed, type Served, serveLiveForFile, tempDir, waitLogCount } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 1, app: fixture('replace-race-app.mjs'), args: ['--drain-timeout', '300'] }, (s) => { ({ t, served, live } = s) })

test('an onPause hook that outlasts the pause ack: the push is refused, and the worker serves on the old file after the hook returns', async (tt) => {
  const candidate = join(t.dir, 'v1.sqlite3')
  seed(candidate, { label: 'v1', rows: 0 })
  // The primary waits drain timeout + 5 s for the ack.
  writeFileSync(join(t.dir, 'pause-delay'), '7000')
  const done0 = countLogs(served, /^replace-race-app: pause hook done/)
  let res
  try {
    res = await cli(['cp', candidate, 'live', '--socket', served.socket], { cwd: t.dir })
  } finally {
    rmSync(join(t.dir, 'pause-delay'))
  }
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_/)
  assert.equal(labelOf(live), 'v0', 'nothing was swapped')
  await waitLogCount(served, /^replace-race-app: pause hook done/, done0 + 1, 15_000)
  let ok = 0
  for (let id = 1000; id < 1010; id++) {
    const r = await request(served.port, `/write?id=${id}`)
    assert.equal(r.status, 200, r.body)
    ok++
  }
  assert.equal(labelOf(live), 'v0')
  report(tt, 'onPause hook outlasts the pause ack', { faults: 1, survived: 1, lost: 0, tempLeft: 0, requestsOk: ok, requestsFailed: 0 })
})
