// What the app writes becomes records a log aggregator does not trip on (issue 15, item 4): a
// stack trace (console.error(err)) is one record, in `hotswap logs --json` and in --log-file; a
// pino or winston JSON line is merged into the record, not double-encoded; a partial line left
// by the app is cut where the worker's own record begins (before, the worker's uncaught-exception
// record was glued into it and logged at info); swap events carry structured fields.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, request, type Served, seed, serveLiveForFile, waitUntil } from '../support/index.js'

let served: Served
let dir: string
let logFile: string

// A relative --log-file is taken from serve's working directory, the test's folder.
serveLiveForFile({ workers: 1, app: fixture('log-app.mjs'), args: ['--log-file', 'log/hotswap.log'] }, (s) => {
  ({ served } = s)
  dir = s.t.dir
  logFile = join(dir, 'log', 'hotswap.log')
})

type Rec = Record<string, unknown>
// Whole lines only: the file or the pipe may end in the middle of a record being written.
const parse = (text: string): Rec[] => text.split('\n').slice(0, -1).filter((l) => l !== '').map((l) => JSON.parse(l) as Rec)
const fileRecords = (): Rec[] => parse(readFileSync(logFile, 'utf8'))

async function ring (): Promise<Rec[]> {
  const res = await cli(['logs', '--json', '--lines', '1000', '--socket', served.socket], { cwd: dir })
  assert.equal(res.code, 0, res.stderr)
  return parse(res.stdout.toString())
}

async function get (path: string): Promise<void> {
  assert.equal((await request(served.port, path, { keepAlive: false })).status, 200)
}

test('console.error(err): one record with the whole stack, at error, in logs --json and in the log file', async () => {
  await get('/stack?id=S1')
  const inRing = await waitUntil('the stack in the ring', async () => (await ring()).filter((r) => String(r.message).includes('boom S1')))
  const inFile = await waitUntil('the stack in the file', () => fileRecords().filter((r) => String(r.message).includes('boom S1')))
  for (const [where, found] of [['logs --json', inRing], ['the log file', inFile]] as const) {
    assert.equal(found.length, 1, `${where}: one record for the stack`)
    const r = found[0] as Rec
    const lines = String(r.message).split('\n')
    assert.equal(lines[0], 'Error: boom S1')
    assert.ok(lines.filter((l) => /^ {4}at /.test(l)).length >= 3, `${where}: the frames are in the record: ${String(r.message)}`)
    assert.equal(lines.at(-2), "  code: 'E_FIXTURE'")
    assert.equal(lines.at(-1), '}')
    assert.equal(r.level, 'error')
    assert.equal(r.stream, 'stderr')
    assert.equal(r.role, 'worker 1')
  }
  // No record is a lone frame of it.
  assert.deepEqual(fileRecords().filter((r) => /^\s+at /.test(String(r.message)) || r.message === '}'), [])
})

test('a pino line and a winston line are merged into the record: their level, message and fields', async () => {
  await get('/pino?msg=P1')
  await get('/winston?msg=W1')
  const pino = await waitUntil('the pino record', () => fileRecords().find((r) => r.message === 'P1'))
  assert.equal(pino.level, 'error', 'pino level 50 is error')
  assert.equal(pino.reqId, 42)
  assert.equal(pino.hostname, 'h')
  assert.equal(typeof pino.time, 'number')
  assert.equal(pino.role, 'worker 1')
  const winston = await waitUntil('the winston record', () => fileRecords().find((r) => r.message === 'W1'))
  assert.equal(winston.level, 'warn')
  assert.equal(winston.service, 'billing')
  assert.deepEqual(fileRecords().filter((r) => /"msg":"P1"|"message":"W1"/.test(String(r.message))), [], 'not double-encoded')
  assert.deepEqual((await ring()).filter((r) => r.message === 'P1').map((r) => r.level), ['error'])
})

test('a swap\'s records carry event, db and pauseMs besides the sentence', async () => {
  const src = join(dir, 'v1.sqlite3')
  seed(src, { label: 'v1' })
  const res = await cli(['cp', src, 'live', '--socket', served.socket], { cwd: dir })
  assert.equal(res.code, 0, res.stderr)
  const recs = await waitUntil('the swap-complete record', () => { const r = fileRecords(); return r.some((x) => x.event === 'swap-complete') && r })
  const of = (event: string): Rec => { const r = recs.find((x) => x.event === event); assert.ok(r !== undefined, `a record with event ${event}`); return r }
  for (const event of ['received', 'checked', 'swap-lock', 'resumed', 'pause-window', 'push', 'swap-complete']) assert.equal(of(event).db, 'live', event)
  assert.equal(typeof of('pause-window').pauseMs, 'number')
  assert.equal(typeof of('push').pauseMs, 'number')
  assert.equal(typeof of('push').commit, 'string')
  assert.equal(typeof of('received').bytes, 'number')
  assert.match(String(of('pause-window').message), /^pause window [\d.]+ ms for live$/)
})

test('a partial line, then a crash: the partial line is its own record and the uncaught exception is logged at error', async () => {
  const before = fileRecords().length
  await get('/partial-crash?text=PARTIAL1')
  const crash = await waitUntil('the uncaught exception', () => fileRecords().slice(before).find((r) => String(r.message).startsWith('uncaught exception: Error: crash after a partial line')))
  assert.equal(crash.level, 'error')
  assert.equal(crash.role, 'worker 1')
  const partial = fileRecords().slice(before).filter((r) => String(r.message).includes('PARTIAL1'))
  assert.equal(partial.length, 1)
  assert.equal(partial[0]?.message, 'PARTIAL1')
  assert.equal(partial[0]?.level, 'info')
  assert.equal(partial[0]?.stream, 'stdout')
  // The worker is replaced; the server goes on.
  await served.waitForLog(/worker 1 ready/)
})
