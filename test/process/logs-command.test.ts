// `hotswap logs` from another shell (issue 15, item 4): the primary's ring of recent records
// over the control socket. --follow sees a line the app writes as it is written, and ends with
// exit 0 on Ctrl-C and when the server stops; --lines N is the last N; --worker N only that
// worker's; --json the file's JSON lines, else one line each for a person; bad values are one
// coded usage line, exit 2, on the CLI and on the socket.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { cli, cliChild, exchange, fixture, gemStream, request, seed, type Served, serveLiveForFile, startServe, waitUntil } from '../support/index.js'

let served: Served
let dir: string

serveLiveForFile({ workers: 2, app: fixture('log-app.mjs') }, (s) => { ({ served } = s); dir = s.t.dir })

const sock = (): string[] => ['--socket', served.socket]
type Rec = Record<string, unknown>
// Whole lines only: a follower's output may end in the middle of a record.
const records = (text: string): Rec[] => text.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Rec)

async function logsJson (...args: string[]): Promise<Rec[]> {
  const res = await cli(['logs', '--json', ...args, ...sock()], { cwd: dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stderr, '')
  return records(res.stdout.toString())
}

/** `text` said by the app on a fresh connection; the pid of the worker that said it. */
async function say (text: string): Promise<number> {
  const res = await request(served.port, `/say?text=${encodeURIComponent(text)}`, { keepAlive: false })
  assert.equal(res.status, 200)
  return Number(res.json().pid)
}

test('logs --follow prints a line the app writes, as it is written; Ctrl-C ends it with exit 0', async () => {
  const follower = cliChild(['logs', '--follow', '--json', '--lines', '0', ...sock()], dir)
  try {
    // Following once its own command record comes through (then it is subscribed).
    await waitUntil('the follower is subscribed', async () => {
      await say('warm-up')
      return follower.out().includes('warm-up')
    })
    const pid = await say('hello from the app')
    const rec = await waitUntil('the line on the follower', () => records(follower.out()).find((r) => r.message === 'hello from the app'))
    assert.equal(rec.level, 'info')
    assert.equal(rec.stream, 'stdout')
    assert.equal(rec.workerPid, pid)
    assert.match(String(rec.role), /^worker [12]$/)
    assert.equal(typeof rec.timestamp, 'string')
  } finally {
    follower.proc.kill('SIGINT')
  }
  assert.equal(await follower.exited, 0, `Ctrl-C ends logs --follow with exit 0: ${follower.out()}`)
  assert.doesNotMatch(follower.out(), /ERROR/)
  // The server goes on: its ring and its socket serve the next reader.
  assert.ok((await logsJson('--lines', '5')).length > 0)
})

test('--lines N prints the last N records, oldest first; --worker N only that worker\'s; pretty without --json', async () => {
  const said = new Map<number, string[]>()
  for (let i = 0; i < 12; i++) {
    const text = `line ${i}`
    const pid = await say(text)
    said.set(pid, [...said.get(pid) ?? [], text])
  }
  assert.equal(said.size, 2, 'both workers said something')
  await waitUntil('the last line in the ring', async () => (await logsJson('--lines', '50')).some((r) => r.message === 'line 11'))

  const all = await logsJson('--lines', '1000')
  assert.ok(all.length > 12 && all.length <= 1000)
  const last3 = await logsJson('--lines', '3')
  assert.equal(last3.length, 3)
  // The ring as the first call saw it ended with that call's own "command: logs" record.
  assert.deepEqual(last3.slice(0, 2), all.slice(-2))
  assert.match(String(last3[2]?.message), /^command: logs --lines 3 --json/)
  assert.deepEqual(await logsJson('--lines', '0'), [])

  for (const [pid, texts] of said) {
    const mine = all.find((r) => r.workerPid === pid)?.role
    const id = Number(String(mine).replace('worker ', ''))
    const only = await logsJson('--worker', String(id), '--lines', '1000')
    assert.ok(only.length >= texts.length)
    assert.ok(only.every((r) => r.role === `worker ${id}`), `--worker ${id}: only worker ${id}'s records`)
    assert.deepEqual(only.filter((r) => String(r.message).startsWith('line ')).map((r) => r.message), texts)
  }

  const pretty = await cli(['logs', '--lines', '200', ...sock()], { cwd: dir })
  assert.equal(pretty.code, 0, pretty.stderr)
  assert.match(pretty.stdout.toString(), /^\S+ worker [12] info: line 11 \{"stream":"stdout","workerPid":\d+\}$/m)
})

test('bad values: one coded usage line and exit 2, from the CLI and on the socket', async () => {
  for (const args of [['--lines', '-1'], ['--lines', 'abc'], ['--worker', '0'], ['--worker', 'x'], ['--bogus'], ['extra']]) {
    const res = await cli(['logs', ...args, ...sock()], { cwd: dir })
    assert.equal(res.code, 2, `logs ${args.join(' ')}: ${res.stderr}`)
    assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] /)
    assert.equal(res.stdout.length, 0)
  }
  for (const args of [['--lines', '-1'], ['--lines'], ['--lines', '1.5'], ['--worker', '0'], ['--follow', 'yes']]) {
    const x = await exchange(served.socket, gemStream(['logs', ...args]), { halfClose: true })
    assert.equal(x.control?.code, 'HOTSWAP_ERR_USAGE', `socket logs ${args.join(' ')}`)
    assert.equal(x.control?.exit, 2)
    assert.match(x.control?.error ?? '', /logs \[--lines N\] \[--follow\] \[--worker N\] \[--json\]/)
  }
})

test('logs --follow ends with exit 0 when the server stops, after the record of the stop', async () => {
  // A server of its own (on a database of its own: one primary per database).
  const otherDir = join(dir, 'other')
  mkdirSync(otherDir)
  seed(join(otherDir, 'live.sqlite3'), { label: 'v0' })
  const other = await startServe({ dir: otherDir, dbs: [join(otherDir, 'live.sqlite3')], workers: 1, app: fixture('log-app.mjs') })
  const follower = cliChild(['logs', '--follow', '--socket', other.socket], dir)
  try {
    await waitUntil('the follower prints', () => follower.out().includes('command: logs --follow'))
  } finally {
    assert.equal(await other.stop(), 0)
  }
  assert.equal(await follower.exited, 0, follower.out())
  assert.match(follower.out(), /primary info: SIGTERM: shutting down/)
  assert.doesNotMatch(follower.out(), /ERROR/)
})
