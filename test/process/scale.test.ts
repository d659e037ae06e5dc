// `hotswap scale N` under freshAndReusedLoad, on fresh and keep-alive connections with requests in flight:
// up to 4 (the new workers start, become ready and get connections), then down to 1 (the three
// removed workers drain and exit, and are not restarted), with no failed request. A bad N is a
// usage error (exit 2) from the CLI and from the socket alike, and changes nothing.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, errorLine, exchange, frame, freshAndReusedLoad, isAlive, statusJson, versionedServers, waitUntil } from '../support/index.js'

const { project, serve, workersOf } = versionedServers()

test('scale up and down under load: no failed request; removed workers drained, not restarted', async (t) => {
  const p = project()
  const s = await serve({ dir: p.dir, dbs: [p.live], workers: 2 })
  const before = await workersOf(s)
  const traffic = freshAndReusedLoad(s.port, { paths: ['/version', '/slow?ms=40'], concurrency: 4 })
  try {
    const up = await cli(['scale', '4', '--socket', s.socket], { cwd: s.dir })
    assert.equal(up.code, 0, up.stderr)
    assert.match(up.stdout.toString(), /^scaled from 2 to 4 worker\(s\): 2 started, in \d+ ms\n$/)
    const four = await workersOf(s)
    assert.deepEqual(four.map((w) => [w.id, w.state]), [[1, 'ready'], [2, 'ready'], [3, 'ready'], [4, 'ready']])
    const st = await statusJson(s.socket, s.dir)
    assert.deepEqual([st.primary.workersWanted, st.primary.workersReady, st.primary.degraded], [4, 4, false])

    const down = await cli(['scale', '1', '--socket', s.socket], { cwd: s.dir })
    assert.equal(down.code, 0, down.stderr)
    assert.match(down.stdout.toString(), /^scaled from 4 to 1 worker\(s\): 3 drained and stopped, in \d+ ms\n$/)
    const removed = four.filter((w) => w.id > 1).map((w) => w.pid)
    for (const pid of removed) assert.equal(isAlive(pid), false, `removed worker ${pid} has exited`)
    const one = await workersOf(s)
    assert.deepEqual(one.map((w) => [w.id, w.pid]), [[1, before[0]?.pid]], 'slot 1 kept its worker; the others are gone')
  } finally {
    const stats = await traffic.stop()
    t.diagnostic(`requests: ${stats.map((x) => `${x.ok} ok, ${x.failed} failed`).join('; ')}`)
    for (const x of stats) {
      assert.equal(x.failed, 0, `no failed request: ${x.errors.join('; ')}`)
      assert.ok(x.ok > 0)
    }
  }
  // Not restarted: a removed slot stays removed.
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal((await workersOf(s)).length, 1)
  assert.equal(s.logs().some((l) => /restarting in/.test(String(l.message))), false, 'no removed worker was restarted')
  const check = await cli(['status', '--check', '--socket', s.socket], { cwd: s.dir })
  assert.equal(check.code, 0)
  assert.equal(check.stdout.toString(), 'OK: 1 of 1 ready\n')

  // Bad values: the CLI refuses before it connects, the socket command the same way.
  for (const args of [['0'], ['abc'], ['1.5'], ['-1'], ['+2'], ['9999999'], []]) {
    const r = await cli(['scale', ...args, '--socket', s.socket], { cwd: s.dir })
    assert.equal(r.code, 2, `scale ${args.join(' ')}: ${r.stderr}`)
    assert.match(errorLine(r.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] /, r.stderr)
    assert.equal(r.stdout.length, 0)
  }
  for (const args of [['scale', '0'], ['scale', 'x'], ['scale'], ['scale', '2', '3']]) {
    const r = await exchange(s.socket, frame(3, JSON.stringify({ args, tty: false, protocol: 1 })))
    assert.deepEqual([r.control?.exit, r.control?.code], [2, 'HOTSWAP_ERR_USAGE'], `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /scale takes one argument, the number of workers: a positive integer/)
  }
  await waitUntil('still one worker', async () => (await workersOf(s)).length === 1)
  assert.equal(await s.stop(), 0)
})
