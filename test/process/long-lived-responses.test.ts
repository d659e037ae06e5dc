// One server-sent event stream made every swap hold all requests for the
// whole drain timeout and then fail. A response the app marks with release(res) no longer
// counts as in flight: the push goes through and the stream stays open, sending the new data.
// A drain that waits for a response not released logs a warning naming it while it waits.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { checkAfterFault, cli, countLogs, fixture, labelOf, pushable, report, type Served, serveLiveForFile, tempDir, underLoad, waitLogCount, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
const streams: EventStream[] = []

after(async () => {
  for (const s of streams) s.close()
})

serveLiveForFile({ workers: 2, app: fixture('stream-app.mjs'), args: ['--drain-timeout', '3000'], prepare: (s) => {
    ({ t, live } = s)
    // 3 s instead of the default 10 s, so that the refused push below does not take long.
  } }, (s) => { ({ t, served, live } = s) })

interface EventStream {
  pid: Promise<number>
  events: Array<{ n: number, label: string, pid: number }>
  ended: () => boolean
  close: () => void
}

/** A text/event-stream client on a connection of its own. */
function subscribe (path: string): EventStream {
  const events: EventStream['events'] = []
  let ended = false
  let req!: http.ClientRequest
  const pid = new Promise<number>((resolve, reject) => {
    req = http.get({ host: '127.0.0.1', port: served.port, path, agent: false }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream')
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        buf += d
        const parts = buf.split('\n\n')
        buf = parts.pop() ?? ''
        for (const part of parts) {
          const data = part.split('\n').find((l) => l.startsWith('data: '))
          if (data === undefined) continue
          const value = JSON.parse(data.slice(6)) as { n?: number, label: string, pid: number }
          if (part.startsWith('event: hello')) resolve(value.pid)
          else events.push(value as EventStream['events'][number])
        }
      })
      res.on('close', () => { ended = true })
    })
    req.on('error', (err) => { ended = true; reject(err) })
  })
  const s = { pid, events, ended: () => ended, close: () => req.destroy() }
  streams.push(s)
  return s
}

const candidate = (label: string): string => pushable(t.dir, label).path

test('released event streams on both workers: the push goes through, and the streams stay open and send the new data', async (tt) => {
  // Fresh connections go round robin: subscribe until both workers hold a stream.
  const open: EventStream[] = []
  for (let i = 0; i < 20 && new Set(await Promise.all(open.map(async (s) => await s.pid))).size < 2; i++) open.push(subscribe('/events?release=1'))
  const pids = new Set(await Promise.all(open.map(async (s) => await s.pid)))
  assert.equal(pids.size, 2, 'both workers hold a stream')
  await waitUntil('events on every stream', () => open.every((s) => s.events.length > 0))

  const { result: res, load } = await underLoad(served.port, { paths: ['/label'] }, async () => await cli(['cp', candidate('v1'), 'live', '--socket', served.socket], { cwd: t.dir }))
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(labelOf(live), 'v1')

  // Every stream is still open and now sends what the new file holds.
  await waitUntil('the new label on every stream', () => open.every((s) => s.events.some((e) => e.label === 'v1')))
  for (const s of open) {
    assert.equal(s.ended(), false, 'the stream is still open')
    const seen = s.events.length
    await waitUntil('more events after the swap', () => s.events.length > seen)
    assert.equal(s.events.at(-1)?.label, 'v1')
  }
  const { tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: ['v1'] })
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  for (const s of open) s.close()
  tt.diagnostic(`${open.length} released event streams on 2 workers; the push went through; load ${load.summary()}`)
  report(tt, 'released event streams', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

test('a stream that is not released holds the drain: a warning names it while the swap waits, then the swap is refused and the stream goes on', async () => {
  const held = subscribe('/events')
  const pid = await held.pid
  const warned = countLogs(served, /the swap waits for 1 request\(s\) in flight/)
  const res = await cli(['cp', candidate('v2'), 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_DRAIN_TIMEOUT\\] worker \\d+ \\(pid ${pid}\\)`))
  assert.match(res.stderr, /^\s+GET \/events \(running for \d+ ms\)$/m)
  assert.match(res.stderr, /can call release\(res\)/, 'the error says what to do')
  await waitLogCount(served, /the swap waits for 1 request\(s\) in flight/, warned + 1)
  const line = served.logs().filter((l) => /the swap waits for 1 request\(s\) in flight/.test(String(l.message))).at(-1) as Record<string, unknown>
  assert.match(String(line.message), /GET \/events \(running for \d+ ms\).*release\(res\)/)
  assert.equal(line.level, 'warn')
  assert.equal(Number(line.workerPid), pid)
  assert.equal(labelOf(live), 'v1', 'nothing was swapped')
  const seen = held.events.length
  await waitUntil('more events after the refused swap', () => held.events.length > seen)
  assert.equal(held.ended(), false)
  held.close()
})
