// A disk that fills during the last write. libuv's write loop
// returns the bytes written so far when write(2) fails after a partial write, so a short last
// writev looked like success: the upload was fsynced, validated and refused as
// HOTSWAP_ERR_TRUNCATED, a wrong reason for a full disk. Every write is now checked to its
// last byte and a full disk is HOTSWAP_ERR_NO_SPACE naming the bytes. The same for a streamed
// pull into a full filesystem (our client's writes) and into a device that is always full.
//
// Filesystems of their own, mounted by the test (as root): a 2 MiB tmpfs holding the live
// database, sized so that an upload smaller than one 4 MiB write batch does not fit (the only
// writev is the last one, and it is short); a 64 KiB one as a pull's destination. A character
// device like /dev/full (mknod c 1 7) in the test's directory. Without mount and mknod (not
// root), the real /dev/full stands in for all of them.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs'
import type net from 'node:net'
import { join } from 'node:path'
import { BIN, checkAfterFault, cli, exchange, fixture, gemStream, integrity, labelOf, leftovers, mountTmpfs, otherRootProxy, report, request, seed, type Served, startServe, tempDir, TrackedLoad, unmount, walSource } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let mnt: string
let small: string
let full = '/dev/full'
const mounts: string[] = []
let mountError = ''
let proxy: net.Server | undefined
let proxySocket: string

function mount (dir: string, size: string): boolean {
  const m = mountTmpfs(dir, size)
  if (m.mounted) mounts.push(dir)
  else mountError = m.error
  return m.mounted
}

before(async () => {
  t = tempDir()
  mnt = join(t.dir, 'mnt')
  small = join(t.dir, 'small')
  if (mount(mnt, '2m')) mount(small, '64k')
  live = join(mounts.includes(mnt) ? mnt : t.dir, 'live.sqlite3')
  seed(live, { label: 'd0', rows: 4000 }) // ~100 KB: more than the small filesystem holds
  try {
    execFileSync('mknod', [join(t.dir, 'full'), 'c', '1', '7'], { stdio: 'ignore' })
    full = join(t.dir, 'full')
  } catch { /* not root: /dev/full itself, which nothing here can replace */ }
  mkdirSync(join(t.dir, 'srv'))
  served = await startServe({ dir: join(t.dir, 'srv'), dbs: [live], workers: 2, app: fixture('faults-app.mjs') })
  proxySocket = join(t.dir, 'proxy.sock')
  proxy = await otherRootProxy(served.socket, proxySocket)
})

after(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()))
  const code = await served?.stop()
  for (const m of mounts) unmount(m)
  assert.ok(statSync('/dev/full').isCharacterDevice(), '/dev/full is still a character device')
  t?.cleanup()
  assert.equal(code, 0)
})

/** `hotswap cp live - > FILE` through a shell: stdout is FILE itself. */
async function pullToStdoutRedirected (file: string): Promise<{ code: number | null, stderr: string }> {
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" cp live - --socket "${served.socket}" > "${file}"`], { cwd: t.dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  sh.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => sh.once('close', resolve))
  return { code, stderr }
}

const free = (dir: string): number => { const st = statfsSync(dir); return st.bavail * st.bsize }

async function writesStillWork (): Promise<void> {
  const w = await request(served.port, '/write', { keepAlive: false })
  assert.equal(w.status, 200, w.body)
  assert.deepEqual(integrity(live), ['ok'])
}

test('the last write of an upload falls short on a full disk: HOTSWAP_ERR_NO_SPACE with the bytes, not TRUNCATED', async (tt) => {
  if (!mounts.includes(mnt)) {
    tt.diagnostic(`mount -t tmpfs is not permitted here (${mountError}); this case needs a filesystem of its own`)
    return
  }
  const room = free(mnt)
  // Bigger than the room, smaller than one write batch (4 MiB, 256 slices): one writev, short.
  const path = join(t.dir, 'upload.sqlite3')
  let rows = 40_000
  seed(path, { label: 'u1', rows })
  while (statSync(path).size <= room + 256 * 1024) seed(path, { label: 'u1', rows: (rows *= 2) })
  const bytes = readFileSync(path)
  assert.ok(bytes.length > room && bytes.length < 4 * 1024 * 1024, `${bytes.length} bytes against ${room} free`)
  tt.diagnostic(`upload ${bytes.length} bytes, ${room} free on the 2 MiB tmpfs`)
  const load = new TrackedLoad(served.port)
  try {
    // The gem's framing (64 KiB stdin frames) and our client streaming stdin (1 MiB frames).
    const g = await exchange(served.socket, gemStream(['cp', '-', 'live'], bytes), { timeoutMs: 60_000 })
    assert.equal(g.control?.exit, 1, g.stderr)
    assert.equal(g.control?.code, 'HOTSWAP_ERR_NO_SPACE', g.stderr)
    const r = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: t.dir, input: bytes })
    assert.equal(r.code, 1, r.stderr)
    // The gem's client reads the gem's words (ERROR: message), ours the coded line; the code
    // reaches both in the exit frame.
    for (const stderr of [g.stderr, r.stderr]) {
      const m = /^ERROR(?: \[HOTSWAP_ERR_NO_SPACE\]|:) no space left beside .*live\.sqlite3 to receive the upload: wrote (\d+) of (\d+) bytes/.exec(stderr)
      assert.ok(m !== null, stderr)
      assert.ok(Number(m[1]) < Number(m[2]) && Number(m[2]) <= bytes.length, stderr)
    }
    // Sent as a path (the server sees our files), its size is known: refused before any copy,
    // with the numbers, and the headroom the live database keeps.
    const p = await cli(['cp', path, 'live', '--socket', served.socket], { cwd: t.dir })
    assert.equal(p.code, 1, p.stderr)
    assert.match(p.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] not enough space in .* for the upload of .*: it needs up to \d+ bytes plus \d+ bytes left free for the live database on the same filesystem, and \d+ are available/, p.stderr)
  } finally {
    await load.stop()
  }
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  const { tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: ['d0'] })
  assert.ok(free(mnt) >= room - 64 * 1024, 'the partial upload was removed')
  await writesStillWork()
  report(tt, 'disk full during the last write', { faults: 3, survived: 3, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

test('a pull into a filesystem too small for it: HOTSWAP_ERR_NO_SPACE, nothing left behind', async (tt) => {
  if (!mounts.includes(small)) {
    tt.diagnostic(`mount -t tmpfs is not permitted here (${mountError}); this case needs a filesystem of its own`)
    return
  }
  assert.ok(statSync(live).size > free(small))
  // Path mode (the server writes the snapshot there) and the gem's framing.
  const r = await cli(['cp', 'live', join(small, 'backup.sqlite3'), '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] .*\d+ (of|bytes)/, r.stderr)
  const g = await exchange(served.socket, gemStream(['cp', 'live', join(small, 'gem.sqlite3')]), { timeoutMs: 20_000 })
  assert.equal(g.control?.code, 'HOTSWAP_ERR_NO_SPACE', g.stderr)
  assert.deepEqual(readdirSync(small), [], 'no temp file is left')
  // `cp live - > FILE` on that filesystem: the shell's redirect fills it (the CLI used to die
  // with a stack trace from an unhandled 'error' event on stdout).
  const out = await pullToStdoutRedirected(join(small, 'stdout.sqlite3'))
  assert.equal(out.code, 1, out.stderr)
  assert.match(out.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] no space left on stdout: the snapshot stopped within its first \d+ bytes\n$/, out.stderr)
  rmSync(join(small, 'stdout.sqlite3')) // The shell made it; what is in it is cut, and said so.
  await writesStillWork()
})

test('a pull into a device that is always full (/dev/full): HOTSWAP_ERR_NO_SPACE; the device stays', async (tt) => {
  tt.diagnostic(full === '/dev/full' ? 'not root: the real /dev/full' : `a node made with mknod: ${full}`)
  const rdev = statSync(full).rdev
  // Our client writes a device itself; the gem's client has the server write it.
  const r = await cli(['cp', 'live', full, '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] no space left for .*: wrote 0 bytes of the snapshot/, r.stderr)
  const g = await exchange(served.socket, gemStream(['cp', 'live', full]), { timeoutMs: 20_000 })
  assert.equal(g.control?.code, 'HOTSWAP_ERR_NO_SPACE', g.stderr)
  assert.match(g.stderr, /no space left on .*: wrote 0 of \d+ bytes/, g.stderr)
  const out = await pullToStdoutRedirected(full)
  assert.equal(out.code, 1, out.stderr)
  assert.match(out.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] no space left on stdout/, out.stderr)
  assert.ok(lstatSync(full).isCharacterDevice())
  assert.equal(lstatSync(full).rdev, rdev)
  assert.deepEqual(leftovers(t.dir), [])
  assert.equal(labelOf(live), 'd0')
  await writesStillWork()
})

test("a streamed push of a source with a -wal, whose consistent copy does not fit the client's TMPDIR: HOTSWAP_ERR_NO_SPACE, no copy left", async (tt) => {
  if (!mounts.includes(small)) {
    tt.diagnostic(`mount -t tmpfs is not permitted here (${mountError}); this case needs a filesystem of its own`)
    return
  }
  // A builder still has the source open: its last rows are only in its -wal.
  const src = join(t.dir, 'building.sqlite3')
  const builder = walSource(src, 'b2', { before: 'b1', rows: 4000 })
  try {
    assert.ok(statSync(`${src}-wal`).size > 0)
    // Through the proxy the client streams, and reads the source through SQLite into TMPDIR.
    const r = await cli(['cp', src, 'live', '--socket', proxySocket], { cwd: t.dir, env: { TMPDIR: small } })
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] no space left in .*small for a consistent copy of .*building\.sqlite3 \(it needs up to \d+ bytes, and \d+ were available\); set TMPDIR/, r.stderr)
  } finally {
    builder.close()
  }
  assert.deepEqual(readdirSync(small), [], 'the partial copy was removed')
  assert.equal(labelOf(live), 'd0')
  await writesStillWork()
})
