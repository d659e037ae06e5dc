// Rpc over a real IPC channel: this process is the primary's end (PrimaryCalls out, WorkerCalls
// in), a forked fixture (test/fixtures/rpc-peer.mjs) the worker's. Replies are matched by seq,
// a failure reply comes back as the HotswapError that was thrown, a request nobody answers
// fails after its timeout, and one pending when the peer exits fails when its owner says so
// (failAll, as ManagedWorker does on exit): rpc does not watch the channel itself.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { HotswapError } from '../../src/shared/errors.js'
import type { PrimaryCalls, Reply, WorkerCalls } from '../../src/shared/messages.js'
import { Rpc } from '../../src/shared/rpc.js'

const PEER = fileURLToPath(new URL('../../../test/fixtures/rpc-peer.mjs', import.meta.url))

interface Report { report: string, value?: unknown, error?: { isHotswapError: boolean, code: string, message: string }, msg?: unknown }

interface Peer {
  child: ChildProcess
  rpc: Rpc<PrimaryCalls, WorkerCalls>
  /** Everything this end sent: requests and replies. */
  sent: unknown[]
  /** Everything that arrived, in order. */
  received: unknown[]
  /** The peer's untagged messages, which rpc.receive() left alone. */
  reports: Report[]
  /** Resolves with the peer's report named `name` (at once if it came already). */
  report: (name: string) => Promise<Report>
}

function startPeer (t: { after: (fn: () => Promise<void>) => void }): Peer {
  const child = fork(PEER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = once(child, 'exit')
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    // Once its own requests are answered nothing is on its way to it: stopping it then cannot
    // fail a reply with EPIPE after the test.
    await report('hotswap:ready')
    child.kill('SIGKILL')
    await exited
  })
  const sent: unknown[] = []
  const received: unknown[] = []
  const reports: Report[] = []
  const waiters: Array<() => void> = []
  const rpc = new Rpc<PrimaryCalls, WorkerCalls>((msg) => {
    sent.push(msg)
    return child.connected && child.send(msg)
  }, {
    'hotswap:hello': () => ({ databases: [{ name: 'app', path: '/srv/app.sqlite3' }] }),
    'hotswap:ready': () => { throw new TypeError('ready() is not expected here') },
  })
  child.on('message', (msg: unknown) => {
    received.push(msg)
    if (rpc.receive(msg)) return
    reports.push(msg as Report)
    for (const w of waiters.splice(0)) w()
  })
  const report = async (name: string): Promise<Report> => {
    for (;;) {
      const found = reports.find((r) => r.report === name)
      if (found !== undefined) return found
      if (child.exitCode !== null) throw new Error(`the peer exited before reporting ${name}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { child, rpc, sent, received, reports, report }
}

test('replies are matched to their requests by seq, not by the order they arrive in', async (t) => {
  const { rpc } = startPeer(t)
  const settled: string[] = []
  // The peer answers "first" only once it has answered "second": the replies cross.
  const first = rpc.request({ cmd: 'hotswap:pause', names: ['first'], drainTimeoutMs: 111 }, 10_000).then((v) => { settled.push('first'); return v })
  const second = rpc.request({ cmd: 'hotswap:pause', names: ['second'], drainTimeoutMs: 222 }, 10_000).then((v) => { settled.push('second'); return v })
  const stats = rpc.request({ cmd: 'hotswap:stats' }, 10_000)
  assert.equal(rpc.pending, 3)
  assert.deepEqual(await first, { drainMs: 111, closeMs: 0, holders: ['first'] })
  assert.deepEqual(await second, { drainMs: 222, closeMs: 0, holders: ['second'] })
  assert.deepEqual(await stats, { rss: 1, inFlight: 2, served: 3, queued: 4 })
  assert.deepEqual(settled, ['second', 'first'], 'the later request was answered first, and each got its own value')
  assert.equal(rpc.pending, 0)
})

test('a failure reply is rebuilt as a HotswapError with its code, message and details', async (t) => {
  const { rpc } = startPeer(t)
  const err = await rpc.request({ cmd: 'hotswap:pause', names: ['refuse'], drainTimeoutMs: 50 }, 10_000).then(
    () => assert.fail('the pause was refused'), (e: unknown) => e)
  assert.ok(err instanceof HotswapError, `a HotswapError: ${String(err)}`)
  assert.equal(err.code, 'HOTSWAP_ERR_DRAIN_TIMEOUT')
  assert.equal(err.message, 'did not drain within 50 ms')
  assert.deepEqual(err.details, ['GET /slow (running)'])
  assert.equal(rpc.pending, 0)
})

test("the peer's requests are answered from the handler table; app messages and unknown commands are left alone", async (t) => {
  const { rpc, sent, reports, report } = startPeer(t)
  assert.deepEqual((await report('hotswap:hello')).value, { databases: [{ name: 'app', path: '/srv/app.sqlite3' }] })
  // A handler that throws (here synchronously, a plain TypeError) fails the request with a coded error.
  assert.deepEqual((await report('hotswap:ready')).error,
    { isHotswapError: true, code: 'HOTSWAP_ERR_INTERNAL', message: 'ready() is not expected here' })
  assert.deepEqual(reports.find((r) => r.report === 'app message from the peer'), { report: 'app message from the peer' })
  const replies = sent as Reply[]
  assert.deepEqual(replies.map((r) => [r.cmd, r.seq, r.ok]), [['hotswap:reply', 1, true], ['hotswap:reply', 2, false]],
    'hello and ready answered; hotswap:constructor and a request of the other direction (hotswap:pause) were not')
  assert.equal(rpc.pending, 0)
})

test('a request nobody answers fails after its timeout, with the code asked for; its late reply is dropped', async (t) => {
  const { rpc, received } = startPeer(t)
  await assert.rejects(rpc.request({ cmd: 'hotswap:resume', names: ['app'] }, 100),
    (e: unknown) => e instanceof HotswapError && e.code === 'HOTSWAP_ERR_WORKER_FAILED' && e.message === 'no reply to hotswap:resume within 100 ms')
  await assert.rejects(rpc.request({ cmd: 'hotswap:resume', names: ['app'] }, 100, 'HOTSWAP_ERR_DRAIN_TIMEOUT'),
    (e: unknown) => e instanceof HotswapError && e.code === 'HOTSWAP_ERR_DRAIN_TIMEOUT')
  assert.equal(rpc.pending, 0)
  // The peer answers both resumes just before this request's reply: neither is taken for it.
  assert.deepEqual(await rpc.request({ cmd: 'hotswap:stats' }, 10_000), { rss: 1, inFlight: 2, served: 3, queued: 4 })
  const replies = (received as Reply[]).filter((m) => m.cmd === 'hotswap:reply').map((r) => [r.seq, r.ok && r.value])
  assert.deepEqual(replies, [[1, { openMs: 0, released: 1 }], [2, { openMs: 0, released: 1 }], [3, { rss: 1, inFlight: 2, served: 3, queued: 4 }]],
    'the two late replies came first')
  assert.equal(rpc.pending, 0)
})

test('a peer that exits mid-request: the request fails when its owner calls failAll, and a later one cannot be sent', async (t) => {
  const { child, rpc, report } = startPeer(t)
  await report('hotswap:ready') // Nothing of its own is in flight when it goes.
  const exited = Promise.all([once(child, 'exit'), once(child, 'disconnect')])
  const shutdown = rpc.request({ cmd: 'hotswap:shutdown', timeoutMs: 1000 }, 60_000)
  await exited
  // Today rpc does not watch the channel: the request stays pending until its owner fails it.
  assert.equal(rpc.pending, 1)
  const gone = new HotswapError('HOTSWAP_ERR_WORKER_FAILED', 'the peer exited')
  rpc.failAll(gone)
  await assert.rejects(shutdown, (e: unknown) => e === gone)
  assert.equal(rpc.pending, 0)
  await assert.rejects(rpc.request({ cmd: 'hotswap:stats' }, 60_000),
    (e: unknown) => e instanceof HotswapError && e.code === 'HOTSWAP_ERR_WORKER_FAILED' &&
      e.message === 'could not send hotswap:stats: the IPC channel is closed')
  assert.equal(rpc.pending, 0)
})
