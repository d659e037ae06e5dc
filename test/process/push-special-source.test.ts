// Server-side push sources the primary must not read (the gem's client sends paths as typed,
// and the server reads them itself):
// - a FIFO, or the server's own stdin/stdout (`/dev/stdin` names the server's, not the
//   client's): opening a FIFO nobody writes, or reading a pipe or a terminal that never ends,
//   blocked a thread of libuv's pool (4 threads) for good, disconnect or not. Four such pushes
//   and every later fs call of the primary waited: `status` and every `cp` hung.
// - a hard link of a database's lock file (`.NAME.hotswap-lock` under another name): copying it
//   opened and closed the lock file, which drops the primary's fcntl lock (POSIX locks are per
//   process), and a second serve on the same database was no longer refused.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, linkSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { cli, exchange, fixture, freePort, gemStream, labelOf, leftovers, request, seed, type Served, serveLiveForFile, startServeArgs, tempDir, waitExit } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let fifo: string
const others: Served[] = []

after(async () => {
  // Releases any read still waiting on the FIFO (the unfixed server), so the server can stop.
  try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)) } catch { /* nobody waits */ }
  for (const s of others) await s.stop()
})

serveLiveForFile({ workers: 1, prepare: (s) => {
    ({ t, live } = s)
    fifo = join(t.dir, 'fifo')
    execFileSync('mkfifo', [fifo])
  } }, (s) => { ({ t, served, live } = s) })

test('a FIFO or the server\'s own stdin/stdout as a push source is refused at once; the socket keeps answering', async () => {
  const sources = [fifo, fifo, fifo, fifo, fifo, '/dev/stdin', '/dev/stdout']
  for (const src of sources) {
    const r = await exchange(served.socket, gemStream(['cp', src, 'live.sqlite3']), { timeoutMs: 3000 })
    assert.equal(r.timedOut, false, `${src}: answered`)
    assert.equal(r.control?.code, 'HOTSWAP_ERR_SOURCE', `${src}: ${r.stderr}`)
    assert.match(r.stderr, /not a regular file/)
  }
  const s = await exchange(served.socket, gemStream(['status', '--json']), { timeoutMs: 5000 })
  assert.equal(s.timedOut, false, 'status answers')
  assert.equal(s.control?.exit, 0, s.stderr)
  // A push of a real file still goes through, and nothing was left beside the database.
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v1' })
  const p = await cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir, timeoutMs: 20_000 })
  assert.equal(p.code, 0, p.stderr)
  assert.equal((await request(served.port, '/label')).json().label, 'v1')
  assert.equal(labelOf(live), 'v1')
  assert.deepEqual(leftovers(t.dir), [])
})

test('a hard link of the lock file is refused as a push source; a second serve is still refused', async () => {
  const link = join(t.dir, 'lock-copy.sqlite3')
  linkSync(join(t.dir, '.live.sqlite3.hotswap-lock'), link)
  const g = await exchange(served.socket, gemStream(['cp', link, 'live.sqlite3']), { timeoutMs: 10_000 })
  assert.equal(g.control?.code, 'HOTSWAP_ERR_USAGE', g.stderr)
  assert.match(g.stderr, /lock file/)
  const c = await cli(['cp', link, 'live', '--socket', served.socket], { cwd: t.dir, timeoutMs: 20_000 })
  assert.equal(c.code, 2, c.stderr)
  assert.match(c.stderr, /HOTSWAP_ERR_USAGE.*lock file/)

  const port = await freePort()
  const socket = join(t.dir, 'sock-2', 'hotswap.sock')
  const second = await startServeArgs({
    dir: t.dir,
    args: [fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live],
    port,
    socket,
    waitListening: 0,
  })
  others.push(second)
  assert.equal(await waitExit(second), 1, second.output())
  assert.match(second.output(), /HOTSWAP_ERR_ALREADY_SERVED/)
  assert.equal(labelOf(live), 'v1')
})
