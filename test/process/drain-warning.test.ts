// One slow request holds every swap (issue 15, item 6): while a swap's drain waits longer than
// --drain-warning, the worker that waits logs a warning naming the request (method, URL, age) and
// itself, with structured fields, while the swap still waits, and the swap goes through once
// the request ends. Before, only the default of a second applied and the line named no worker.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpChild, fixture, labelOf, openRequest, pushable, type Served, serveLiveForFile, waitInFlight } from '../support/index.js'

let served: Served
let dir: string
let live: string

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), args: ['--drain-warning', '200', '--drain-timeout', '60000'] }, (s) => {
  ({ served, live } = s)
  dir = s.t.dir
})

test('a drain waiting past --drain-warning names the request and its worker while it waits; the swap goes through after it', async () => {
  const release = join(dir, 'release-the-request')
  const held = openRequest(served.port, `/hold?file=${encodeURIComponent(release)}`)
  const [busy] = await waitInFlight(served.socket, 1)
  assert.ok(busy !== undefined)

  const warned = served.waitForLog(/^the swap waits for 1 request\(s\) in flight on worker/, 30_000)
  const push = cpChild([pushable(dir, 'v1').path, 'live', '--socket', served.socket], dir)
  const line = await warned
  assert.equal(line.level, 'warn')
  assert.equal(line.event, 'drain-wait')
  assert.equal(line.worker, busy.id)
  assert.equal(line.role, `worker ${busy.id}`)
  assert.equal(line.workerPid, busy.pid)
  assert.equal(typeof line.waitedMs, 'number')
  assert.match(String(line.message), new RegExp(`on worker ${busy.id} \\(pid ${busy.pid}\\) after \\d+ ms \\(it gives up after 60000 ms\\): GET /hold\\?file=\\S+ \\(running for \\d+ ms\\); .*release\\(res\\)`))
  const inFlight = line.inFlight as Array<Record<string, unknown>>
  assert.equal(inFlight.length, 1)
  assert.equal(inFlight[0]?.method, 'GET')
  assert.match(String(inFlight[0]?.url), /^\/hold\?file=/)
  assert.equal(typeof inFlight[0]?.ageMs, 'number')
  // Said while the swap waits: nothing is swapped yet.
  assert.equal(labelOf(live), 'v0')

  writeFileSync(release, '')
  const answered = await held.done
  assert.ok(!(answered instanceof Error), String(answered))
  assert.equal(answered.status, 200)
  assert.equal(JSON.parse(answered.body).label, 'v0', 'the request in flight finished on the old file')
  assert.equal(await push.exited, 0, push.out())
  assert.equal(push.out(), 'OK\n')
  assert.equal(labelOf(live), 'v1')
})
