// Uploads that cannot or should not finish, under HTTP load.
// A full disk while receiving (a 2 MiB tmpfs the test mounts, as root), an upload over
// --max-bytes, a client that goes idle mid-upload (--idle-timeout 500), and one that trickles
// its upload a byte at a time. Each is refused with its own code, changes nothing, leaves no
// temp file, and never holds up the other commands on the socket.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, statfsSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { checkAfterFault, cli, exchange, type Exchange, fixture, gemStream, integrity, labelOf, leftovers, mountTmpfs, push, report, seed, type Served, sleep, startServe, status, tempDir, TrackedLoad, unmount } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let limits: Served
let limitsLive: string
let disk: Served | undefined
let diskLive: string
let mnt: string
let mounted = false
let mountError = ''
let n = 0

const MAX_BYTES = 400_000

before(async () => {
  t = tempDir()
  mkdirSync(join(t.dir, 'limits'))
  limitsLive = join(t.dir, 'limits', 'live.sqlite3')
  seed(limitsLive, { label: 'v0' })
  limits = await startServe({
    dir: join(t.dir, 'limits'), dbs: [limitsLive], workers: 2, app: fixture('faults-app.mjs'),
    args: ['--idle-timeout', '500', '--max-bytes', String(MAX_BYTES)],
  })

  // A small filesystem of its own, so "disk full" is real: ENOSPC from write(2).
  mnt = join(t.dir, 'mnt')
  ;({ mounted, error: mountError } = mountTmpfs(mnt))
  diskLive = join(mnt, 'live.sqlite3')
  seed(diskLive, { label: 'd0', rows: 1000 })
  mkdirSync(join(t.dir, 'disk'))
  // Without a mount the same push meets an enforced --max-bytes instead (see the test).
  disk = await startServe({
    dir: join(t.dir, 'disk'), dbs: [diskLive], workers: 2, app: fixture('faults-app.mjs'),
    args: mounted ? [] : ['--max-bytes', String(1024 * 1024)],
  })
})

after(async () => {
  const codes = await Promise.all([limits?.stop(), disk?.stop()])
  if (mounted) unmount(mnt)
  t?.cleanup()
  assert.deepEqual(codes, [0, 0], 'both servers exit 0 on SIGTERM')
})

function candidate (rows: number): { path: string, bytes: Buffer, label: string } {
  const label = `push-${++n}`
  const path = join(t.dir, `${label}.sqlite3`)
  seed(path, { label, rows })
  return { path, bytes: readFileSync(path), label }
}

function errorCode (r: Exchange): string | undefined {
  return r.control?.code
}

/** Runs `fault` under load; afterwards the live database must hold `expect` (default: what it held). */
async function refusedUnderLoad (tt: { diagnostic: (m: string) => void }, name: string, s: Served, live: string, fault: () => Promise<void>, expect?: string): Promise<void> {
  const old = expect ?? labelOf(live)
  const load = new TrackedLoad(s.port)
  try {
    await fault()
  } finally {
    await load.stop()
  }
  const { label, tempLeft } = await checkAfterFault({ live, port: s.port, socket: s.socket, allowed: [old] })
  assert.equal(label, old)
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  assert.deepEqual(load.bad, [])
  tt.diagnostic(`${name}: refused, live unchanged; load ${load.summary()}`)
  report(tt, 'upload refused', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
}

test('disk full while receiving: HOTSWAP_ERR_NO_SPACE, nothing changed, the space is given back', async (tt) => {
  const s = disk as Served
  if (!mounted) {
    tt.diagnostic(`mount -t tmpfs is not permitted here (${mountError}); the oversized push meets --max-bytes instead`)
  }
  const free = (): number => { const st = statfsSync(mnt); return st.bavail * st.bsize }
  const freeBefore = free()
  // Larger than the whole filesystem: the write fails part-way with ENOSPC.
  const c = candidate(150_000)
  assert.ok(c.bytes.length > 2 * 1024 * 1024, 'the upload does not fit')
  await refusedUnderLoad(tt, mounted ? 'disk full (tmpfs 2 MiB)' : 'disk full (fallback: --max-bytes)', s, diskLive, async () => {
    const r = await cli(['cp', c.path, 'live', '--socket', s.socket], { cwd: join(t.dir, 'disk') })
    assert.equal(r.code, 1, r.stderr)
    const expected = mounted ? 'HOTSWAP_ERR_NO_SPACE' : 'HOTSWAP_ERR_TOO_LARGE'
    assert.match(r.stderr.split('\n')[0] ?? '', new RegExp(`^ERROR \\[${expected}\\] `), r.stderr)
    // Sent as a path, its size is known and it is refused before the copy (src/primary/control/spool.ts);
    // a stream that fills the disk is disk-full-writes.test.ts.
    if (mounted) assert.match(r.stderr, /not enough space in .*: it needs up to \d+ bytes/)
    assert.equal(r.stdout.toString(), '')
  })
  assert.deepEqual(leftovers(mnt), [])
  if (mounted) assert.ok(free() >= freeBefore - 64 * 1024, `the partial upload's space was given back (${freeBefore} → ${free()} bytes free)`)

  // A push that fits still goes through on the nearly full filesystem.
  const small = candidate(3000)
  const ok = await push(s.socket, small.bytes, [], 'live')
  assert.equal(ok.control?.exit, 0, ok.stderr)
  assert.equal(labelOf(diskLive), small.label)
  assert.deepEqual(integrity(diskLive), ['ok'])
})

test(`an upload over --max-bytes is refused with HOTSWAP_ERR_TOO_LARGE (the real CLI and the gem framing)`, async (tt) => {
  // Far over the limit: more is still in flight when the server refuses than the socket buffers
  // hold. The server used to stop reading there, and `hotswap cp` hung after the error.
  const c = candidate(150_000)
  assert.ok(c.bytes.length > 4 * MAX_BYTES)
  await refusedUnderLoad(tt, '--max-bytes', limits, limitsLive, async () => {
    const r = await cli(['cp', c.path, 'live.sqlite3', '--socket', limits.socket], { cwd: join(t.dir, 'limits') })
    assert.equal(r.code, 1)
    assert.match(r.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_TOO_LARGE\] .*--max-bytes/, r.stderr)
    const g = await push(limits.socket, c.bytes)
    assert.equal(errorCode(g), 'HOTSWAP_ERR_TOO_LARGE', g.stderr)
    assert.equal(g.control?.exit, 1)
  })
  // One under the limit goes through.
  const under = candidate(100)
  assert.ok(under.bytes.length <= MAX_BYTES)
  const ok = await push(limits.socket, under.bytes)
  assert.equal(ok.control?.exit, 0, ok.stderr)
  assert.equal(labelOf(limitsLive), under.label)
})

test('a client that goes idle mid-upload gets HOTSWAP_ERR_TIMEOUT; status and another push are served meanwhile', async (tt) => {
  const c = candidate(1000)
  const other = candidate(200)
  let during: { status: number, pushed: number | undefined } = { status: 0, pushed: undefined }
  // The push served meanwhile is the live one afterwards; the idle one never is.
  await refusedUnderLoad(tt, 'idle client', limits, limitsLive, async () => {
    // The control frame and a third of the file, then nothing (the connection stays open).
    const partial = gemStream(['cp', '-', 'live.sqlite3'], c.bytes, 4096)
    const idle = exchange(limits.socket, partial.subarray(0, Math.floor(partial.length / 3)), { timeoutMs: 15_000 })
    // While it idles: a status and a whole push on other connections.
    const [st, pushed] = await Promise.all([status(limits.socket), push(limits.socket, other.bytes)])
    during = { status: st.workers.length, pushed: pushed.control?.exit }
    const r = await idle
    assert.equal(r.timedOut, false, 'the server ended the idle connection')
    assert.equal(r.control?.exit, 1)
    assert.equal(r.control?.code, 'HOTSWAP_ERR_TIMEOUT')
    assert.match(r.stderr, /^ERROR: the upload was idle for 500 ms/, 'the gem\'s client reads "ERROR: message"')
  }, other.label)
  assert.equal(during.status, 2)
  assert.equal(during.pushed, 0, 'a push was served while the other upload idled')
})

test('a client that trickles its upload a byte at a time is served, slowly, and blocks nobody', async (tt) => {
  const c = candidate(100)
  const old = labelOf(limitsLive)
  const load = new TrackedLoad(limits.port)
  let statuses = 0
  const stream = gemStream(['cp', '-', 'live.sqlite3'], c.bytes, c.bytes.length)
  const reply = await new Promise<Exchange>((resolve, reject) => {
    const socket = net.connect(limits.socket)
    let buf = Buffer.alloc(0)
    socket.on('error', reject)
    socket.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]) })
    socket.on('close', () => {
      let at = 0
      let control = null
      let stderr = ''
      while (at + 5 <= buf.length) {
        const len = buf.readUInt32BE(at + 1)
        const payload = buf.subarray(at + 5, at + 5 + len)
        if (buf[at] === 3) control = JSON.parse(payload.toString()) as Exchange['control']
        if (buf[at] === 2) stderr += payload.toString()
        at += 5 + len
      }
      resolve({ stdout: Buffer.alloc(0), stderr, control, oddities: [], timedOut: false })
    })
    socket.on('connect', () => {
      void (async () => {
        // One byte per write, a pause every 16 bytes: thousands of one-byte chunks, each well
        // inside the 500 ms idle timeout. Status is asked for along the way.
        for (let i = 0; i < stream.length; i++) {
          socket.write(stream.subarray(i, i + 1))
          if (i % 16 === 15) await sleep(1)
          if (i % 4096 === 0) {
            await status(limits.socket)
            statuses++
          }
        }
      })().catch(reject)
    })
  })
  await load.stop()
  assert.equal(reply.control?.exit, 0, reply.stderr)
  assert.equal(labelOf(limitsLive), c.label, `the trickled push landed (was ${old})`)
  assert.ok(statuses > 0)
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  const checked = await checkAfterFault({ live: limitsLive, port: limits.port, socket: limits.socket, allowed: [c.label] })
  tt.diagnostic(`trickle: ${stream.length} one-byte writes, ${statuses} status calls answered meanwhile; load ${load.summary()}`)
  report(tt, 'upload trickled', { faults: 1, survived: 1, lost: 0, tempLeft: checked.tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})
