// Where a pull may write, and what a push may read. A pull into a FIFO
// or a device is written through, never renamed over (as root it replaced /dev/null); a symlink
// is followed; a directory, a missing directory or a name too long is a usage error with nothing
// written; a managed database's -wal/-shm/-journal (however spelled: `..`, a symlink, a hard
// link) and hotswap's own `.NAME.hotswap-` names are refused, as a pull's destination and as a
// push's source. Through our CLI (path mode, and streamed, via a proxy that makes the server
// look like another container's) and the gem's framing (server-side paths).
//
// The special files are made inside the test's own directory: a FIFO (mkfifo) and, as root, a
// character device node equal to /dev/null (mknod c 1 3). The real /dev/null is used only where
// mknod is not permitted (not root), where nothing can rename over it.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { BIN, cli, exchange, type Exchange, gemStream, integrity, labelOf, leftovers, otherRootProxy, request, seed, type Served, serveLiveForFile, sleep, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let out: string
let device: string
let deviceIsOurs = false
let proxy: net.Server
let proxySocket: string

after(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()))
})

serveLiveForFile({ workers: 2, rows: 200, prepare: (s) => {
    ({ t, live } = s)
    out = join(t.dir, 'out')
    mkdirSync(out)
    mkdirSync(join(t.dir, 'sub'))
    device = join(out, 'null')
    try {
      execFileSync('mknod', [device, 'c', '1', '3'], { stdio: 'ignore' })
      deviceIsOurs = true
    } catch {
      device = '/dev/null' // Not root: nothing here can rename over it.
    }
  } }, async (s) => {
  ({ t, served, live } = s)
  proxySocket = join(t.dir, 'proxy.sock')
  proxy = await otherRootProxy(served.socket, proxySocket)
})

after(() => {
  assert.ok(statSync('/dev/null').isCharacterDevice(), '/dev/null is still a character device')
})

function gem (args: string[]): Promise<Exchange> {
  return exchange(served.socket, gemStream(args), { timeoutMs: 20_000 })
}

/** The live database is whole, serves, and takes writes. */
async function liveIsFine (): Promise<void> {
  assert.deepEqual(integrity(live), ['ok'])
  const w = await request(served.port, '/write?n=3', { keepAlive: false })
  assert.equal(w.status, 200, w.body)
  assert.equal(w.json().label, labelOf(live))
  assert.deepEqual(integrity(live), ['ok'])
}

/** Reads a FIFO while `write` runs: opened O_RDWR|O_NONBLOCK (a reader is there at once). */
async function readFifo (fifo: string, write: () => Promise<unknown>): Promise<Buffer> {
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
  const chunks: Buffer[] = []
  let done = false
  const writing = write().finally(() => { done = true })
  try {
    const buf = Buffer.alloc(1024 * 1024)
    for (;;) {
      let n = 0
      try {
        n = readSync(fd, buf, 0, buf.length, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      }
      if (n > 0) { chunks.push(Buffer.from(buf.subarray(0, n))); continue }
      if (done) break
      await sleep(5)
    }
    await writing
  } finally {
    closeSync(fd)
  }
  return Buffer.concat(chunks)
}

function isSnapshot (bytes: Buffer): void {
  assert.ok(bytes.length >= 4096, `got ${bytes.length} bytes`)
  assert.equal(bytes.subarray(0, 16).toString('latin1'), 'SQLite format 3\0')
  const copy = join(t.dir, `copy-${Math.random().toString(16).slice(2)}.sqlite3`)
  writeFileSync(copy, bytes)
  assert.equal(labelOf(copy), labelOf(live))
}

const SOCKETS = (): Array<[string, string]> => [['path mode', served.socket], ['streamed', proxySocket]]

test('a pull into a FIFO writes the snapshot through it (our CLI, both modes, and the gem framing)', async () => {
  const fifo = join(out, 'fifo')
  execFileSync('mkfifo', [fifo])
  for (const [mode, socket] of SOCKETS()) {
    let r: Awaited<ReturnType<typeof cli>> | undefined
    const bytes = await readFifo(fifo, async () => { r = await cli(['cp', 'live', fifo, '--socket', socket], { cwd: t.dir }) })
    assert.equal(r?.code, 0, `${mode}: ${r?.stderr}`)
    assert.equal(r?.stdout.toString(), 'OK\n')
    assert.ok(lstatSync(fifo).isFIFO(), `${mode}: still a FIFO`)
    isSnapshot(bytes)
  }
  let g: Exchange | undefined
  const bytes = await readFifo(fifo, async () => { g = await gem(['cp', 'live', fifo]) })
  assert.equal(g?.control?.exit, 0, g?.stderr)
  assert.ok(lstatSync(fifo).isFIFO(), 'gem: still a FIFO')
  isSnapshot(bytes)
  assert.deepEqual(leftovers(out), [])
  await liveIsFine()
})

test('a pull into a character device writes through it; the device stays a device', async (tt) => {
  tt.diagnostic(deviceIsOurs ? `a node made with mknod: ${device}` : 'not root: /dev/null itself, which nothing here can replace')
  const rdev = statSync(device).rdev
  for (const [mode, socket] of SOCKETS()) {
    const r = await cli(['cp', 'live', device, '--socket', socket], { cwd: t.dir })
    assert.equal(r.code, 0, `${mode}: ${r.stderr}`)
    const st = lstatSync(device)
    assert.ok(st.isCharacterDevice(), `${mode}: still a character device`)
    assert.equal(st.rdev, rdev)
  }
  const g = await gem(['cp', 'live', device])
  assert.equal(g.control?.exit, 0, g.stderr)
  assert.ok(lstatSync(device).isCharacterDevice(), 'gem: still a character device')
  assert.equal(lstatSync(device).rdev, rdev)
  assert.deepEqual(leftovers(out), [])
  await liveIsFine()
})

test('a pull into /dev/stdout (a link to the client\'s own stdout, a pipe) writes the bytes there, and nothing after them', async () => {
  // A link of our own to /proc/self/fd/1, as /dev/stdout is; `| cat` makes stdout a pipe.
  const link = join(out, 'my-stdout')
  symlinkSync('/proc/self/fd/1', link)
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" cp live "${link}" --socket "${served.socket}" | cat`], { cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: Buffer[] = []
  let stderr = ''
  sh.stdout.on('data', (d: Buffer) => chunks.push(d))
  sh.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => sh.once('close', resolve))
  assert.equal(code, 0, stderr)
  isSnapshot(Buffer.concat(chunks))
  const size = Buffer.concat(chunks).length
  assert.equal(size % 4096, 0, `only the database's pages reached stdout (${size} bytes)`)
  assert.ok(lstatSync(link).isSymbolicLink())
})

test('a pull into a symlink writes its target; the link stays a link', async () => {
  const target = join(out, 'target.sqlite3')
  writeFileSync(target, 'old contents')
  const link = join(out, 'link.sqlite3')
  symlinkSync('target.sqlite3', link)
  for (const [mode, socket] of SOCKETS()) {
    writeFileSync(target, 'old contents')
    const r = await cli(['cp', 'live', link, '--socket', socket], { cwd: t.dir })
    assert.equal(r.code, 0, `${mode}: ${r.stderr}`)
    assert.ok(lstatSync(link).isSymbolicLink(), `${mode}: still a link`)
    isSnapshot(readFileSync(target))
  }
  writeFileSync(target, 'old contents')
  const g = await gem(['cp', 'live', link])
  assert.equal(g.control?.exit, 0, g.stderr)
  assert.ok(lstatSync(link).isSymbolicLink())
  isSnapshot(readFileSync(target))
  // A link to the server's own stdout (as /dev/stdout is) is refused on the server, not written.
  const stdoutLink = join(out, 'stdout')
  symlinkSync('/proc/self/fd/1', stdoutLink)
  const s = await gem(['cp', 'live', stdoutLink])
  assert.equal(s.control?.exit, 2, s.stderr)
  assert.equal(s.control?.code, 'HOTSWAP_ERR_USAGE', s.stderr)
  assert.match(s.stderr, /^ERROR: .*the server's own stdout/) // the gem's words, for the gem's client
  assert.ok(lstatSync(stdoutLink).isSymbolicLink())
  assert.deepEqual(leftovers(out), [])
})

test('a directory gets the file inside it; a missing directory and a name too long are usage errors, nothing written', async () => {
  const dir = join(out, 'dir')
  mkdirSync(dir)
  const r = await cli(['cp', 'live', dir, '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  isSnapshot(readFileSync(join(dir, 'live')))
  const g = await gem(['cp', 'live.sqlite3', dir])
  assert.equal(g.control?.exit, 0, g.stderr)
  isSnapshot(readFileSync(join(dir, 'live.sqlite3')))
  // A name that fits (250 bytes) though its temp name would not: written.
  const long = join(out, 'l'.repeat(250))
  const l = await cli(['cp', 'live', long, '--socket', served.socket], { cwd: t.dir })
  assert.equal(l.code, 0, l.stderr)
  isSnapshot(readFileSync(long))
  writeFileSync(join(out, 'plain'), 'a file')
  const before = readdirSync(out).sort()
  const bad = [join(out, 'missing', 'x.sqlite3'), join(out, 'n'.repeat(256)), join(out, 'plain', 'x'), `${join(out, 'absent')}/`]
  for (const dst of bad) {
    const c = await cli(['cp', 'live', dst, '--socket', served.socket], { cwd: t.dir })
    assert.equal(c.code, 2, `${dst}: ${c.stderr}`)
    assert.match(c.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] cannot write /, c.stderr)
    const e = await gem(['cp', 'live', dst])
    assert.equal(e.control?.exit, 2, `gem ${dst}: ${e.stderr}`)
    assert.equal(e.control?.code, 'HOTSWAP_ERR_USAGE', e.stderr)
  }
  // An empty DST would have been the server's working directory.
  const empty = await gem(['cp', 'live', ''])
  assert.equal(empty.control?.code, 'HOTSWAP_ERR_USAGE', empty.stderr)
  assert.deepEqual(readdirSync(out).sort(), before, 'nothing written')
  await liveIsFine()
})

test("a managed database's -wal, -shm, -journal and hotswap's temp names are refused as destinations, however spelled", async () => {
  symlinkSync(`${live}-wal`, join(out, 'wal-link'))
  linkSync(live, join(out, 'hard-link.sqlite3'))
  const refused: Array<[string, string]> = [
    ['live.sqlite3-wal', 'HOTSWAP_ERR_USAGE'],
    ['live.sqlite3-shm', 'HOTSWAP_ERR_USAGE'],
    ['live.sqlite3-journal', 'HOTSWAP_ERR_USAGE'],
    ['sub/../live.sqlite3-wal', 'HOTSWAP_ERR_USAGE'],
    [join(out, 'wal-link'), 'HOTSWAP_ERR_USAGE'],
    ['.live.sqlite3.hotswap-0123456789ab.tmp', 'HOTSWAP_ERR_USAGE'],
    [join(out, '.backup.sqlite3.hotswap-pull-1.tmp'), 'HOTSWAP_ERR_USAGE'],
    [join(out, 'hard-link.sqlite3'), 'HOTSWAP_ERR_BOTH_MANAGED'],
  ]
  for (const [dst, code] of refused) {
    const exit = code === 'HOTSWAP_ERR_USAGE' ? 2 : 1
    // The client decides before it chooses between path mode and streaming: once is enough.
    const r = await cli(['cp', 'live', dst, '--socket', served.socket], { cwd: t.dir })
    assert.equal(r.code, exit, `${dst}: ${r.stderr}`)
    assert.match(r.stderr, new RegExp(`^ERROR \\[${code}\\] `), dst)
    assert.equal(r.stdout.toString(), '')
    const g = await gem(['cp', 'live', dst.startsWith('/') ? dst : join(t.dir, dst)])
    assert.equal(g.control?.exit, exit, `gem ${dst}: ${g.stderr}`)
    assert.equal(g.control?.code, code, `gem ${dst}`)
  }
  assert.ok(lstatSync(join(out, 'wal-link')).isSymbolicLink())
  assert.equal(statSync(join(out, 'hard-link.sqlite3')).ino, statSync(live).ino)
  assert.deepEqual(leftovers(t.dir), [])
  await liveIsFine()
  assert.equal(labelOf(live), 'v0')
})

test("a push from a managed database's side file, a temp name or a hard link of it is refused", async () => {
  const tempName = join(t.dir, '.live.sqlite3.hotswap-feedfeedfeed.tmp')
  seed(tempName, { label: 'planted', rows: 1, wal: false })
  const hardLink = join(out, 'hard-link-2.sqlite3')
  linkSync(live, hardLink)
  const sources: Array<[string, string]> = [
    ['live.sqlite3-wal', 'HOTSWAP_ERR_USAGE'],
    ['sub/../live.sqlite3-shm', 'HOTSWAP_ERR_USAGE'],
    [tempName, 'HOTSWAP_ERR_USAGE'],
    [hardLink, 'HOTSWAP_ERR_BOTH_MANAGED'],
  ]
  for (const [src, code] of sources) {
    const exit = code === 'HOTSWAP_ERR_USAGE' ? 2 : 1
    const r = await cli(['cp', src, 'live', '--socket', served.socket], { cwd: t.dir })
    assert.equal(r.code, exit, `${src}: ${r.stderr}`)
    assert.match(r.stderr, new RegExp(`^ERROR \\[${code}\\] `), src)
    const g = await gem(['cp', src.startsWith('/') ? src : join(t.dir, src), 'live'])
    assert.equal(g.control?.exit, exit, `gem ${src}: ${g.stderr}`)
    assert.equal(g.control?.code, code, `gem ${src}`)
  }
  assert.equal(labelOf(live), 'v0')
  await liveIsFine()
  rmSync(tempName)
  assert.deepEqual(leftovers(t.dir), [])
})
