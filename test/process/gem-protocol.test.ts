// The control socket as the hotswap gem's client sees it: its framing, unchanged, with no
// protocol or cwd fields; malformed input that ends one connection and nothing else; and the
// socket's own safety rules (private modes, never stealing a live socket, replacing a stale one).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { BIN, cli, fixture, freePort, integrity, labelOf, leftovers, request, ROOT, seed, type Served, serveLiveForFile, sleep, startServe, takeFrames, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

// ---------------------------------------------------------------------------------------------
// A client written to the gem's framing, independent of src/: 1 byte channel (0 stdin,
// 1 stdout, 2 stderr, 3 control), 4-byte big-endian length, payload.

function frame (channel: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const header = Buffer.alloc(5)
  header.writeUInt8(channel, 0)
  header.writeUInt32BE(body.length, 1)
  return Buffer.concat([header, body])
}

interface Exchange {
  stdout: Buffer
  stderr: string
  /** The server's last control frame, or null when the connection closed without one. */
  control: { exit: number, error?: string, code?: string } | null
}

/**
 * Connects, writes `bytes` (in `pieces` writes of varying size), reads frames until the server
 * closes the connection. Bounded: a connection still open after `timeoutMs` is destroyed and
 * reported as such.
 */
async function exchange (socketPath: string, bytes: Buffer, opts: { pieces?: number, timeoutMs?: number } = {}): Promise<Exchange & { timedOut: boolean }> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    const out: Buffer[] = []
    let stderr = ''
    let control: Exchange['control'] = null
    let buf: Buffer = Buffer.alloc(0)
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; socket.destroy() }, opts.timeoutMs ?? 15_000)
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close while we still write (EPIPE/ECONNRESET); that is an answer too.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err)
    })
    socket.on('connect', () => {
      const pieces = Math.max(1, opts.pieces ?? 1)
      const size = Math.ceil(bytes.length / pieces)
      for (let off = 0, i = 0; off < bytes.length; i++) {
        // Uneven pieces, so frame boundaries land anywhere inside a write.
        const n = Math.max(1, Math.round(size * (0.5 + (i % 3) / 2)))
        socket.write(bytes.subarray(off, off + n))
        off += n
      }
    })
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const taken = takeFrames(buf)
      buf = taken.rest
      for (const { channel, payload } of taken.frames) {
        if (channel === 1) out.push(payload)
        else if (channel === 2) stderr += payload.toString('utf8')
        else if (channel === 3) control = JSON.parse(payload.toString('utf8')) as Exchange['control']
        else reject(new Error(`the server sent a frame on channel ${String(channel)}`))
      }
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ stdout: Buffer.concat(out), stderr, control, timedOut })
    })
  })
}

/** What the gem sends: {"args","tty"} and nothing else; stdin frames and an empty frame when given. */
function gemRequest (args: string[], stdin?: Buffer, frameSize = 16 * 1024): Buffer {
  const parts = [frame(3, JSON.stringify({ args, tty: false }))]
  if (stdin !== undefined) {
    for (let off = 0; off < stdin.length; off += frameSize) parts.push(frame(0, stdin.subarray(off, off + frameSize)))
    parts.push(frame(0, Buffer.alloc(0)))
  }
  return Buffer.concat(parts)
}

async function gem (args: string[], stdin?: Buffer, pieces = 1): Promise<Exchange> {
  const r = await exchange(served.socket, gemRequest(args, stdin), { pieces })
  assert.equal(r.timedOut, false, `the server answered ${args.join(' ')}`)
  return r
}

async function labels (port: number, n = 4): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(port, '/label', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    out.push(String(res.json().label))
  }
  return out
}



/** The server still does its job: a status over the socket and HTTP on every worker. */
async function assertStillServing (label: string): Promise<void> {
  assert.equal(served.child.exitCode, null, 'the server is still running')
  const st = await gem(['status', '--json'])
  assert.equal(st.control?.exit, 0, st.stderr)
  const report = JSON.parse(st.stdout.toString('utf8')) as { workers: unknown[], databases: Array<{ name: string }> }
  assert.equal(report.workers.length, 2)
  assert.equal(report.databases[0]?.name, 'live')
  assert.deepEqual(await labels(served.port), [label, label, label, label])
}

/** Runs `hotswap serve` to completion (for the cases that must refuse to start). */
async function serveOnce (args: string[], cwd: string): Promise<{ code: number | null, stderr: string, stdout: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd, env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL') }, 20_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stderr, stdout }
}

function errorLine (stderr: string): string {
  return stderr.split('\n').find((l) => l.startsWith('ERROR [')) ?? ''
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// the gem's client, unchanged

test('the gem client pushes from "-" and pulls to "-"', async () => {
  const src = join(t.dir, 'gem-src.sqlite3')
  seed(src, { label: 'gem-push', rows: 3000 })
  const bytes = readFileSync(src)
  // Written in many uneven pieces, so frames arrive split and merged.
  const pushed = await gem(['cp', '-', 'live.sqlite3'], bytes, 37)
  assert.deepEqual(pushed.control, { exit: 0 })
  assert.equal(pushed.stdout.toString(), 'OK\n')
  assert.equal(pushed.stderr, 'Swapping database...\n', 'the gem\'s words only: no progress lines when tty is false')
  assert.deepEqual(await labels(served.port), ['gem-push', 'gem-push', 'gem-push', 'gem-push'])
  assert.equal(labelOf(live), 'gem-push')

  // The gem streams its stdin whenever an argument is "-", so a pull arrives with an empty
  // stdin (just end-of-input)...
  const pulled = await gem(['cp', 'live.sqlite3', '-'], Buffer.alloc(0))
  assert.deepEqual(pulled.control, { exit: 0 })
  assert.equal(pulled.stderr, '')
  const copy = join(t.dir, 'gem-pulled.sqlite3')
  writeFileSync(copy, pulled.stdout)
  assert.equal(labelOf(copy), 'gem-push')
  assert.deepEqual(integrity(copy), ['ok'])
  // ... or with no stdin frames at all, by name.
  const byName = await gem(['cp', 'live', '-'])
  assert.equal(byName.control?.exit, 0, byName.stderr)
  assert.ok(byName.stdout.subarray(0, 16).equals(Buffer.from('SQLite format 3\0', 'latin1')), 'database bytes on stdout')
  assert.deepEqual(leftovers(t.dir), [])
})

test('server-side relative paths resolve against the server\'s working directory', async () => {
  // The server runs in t.dir; this test process does not.
  assert.notEqual(process.cwd(), t.dir)
  seed(join(t.dir, 'new.sqlite3'), { label: 'relative' })
  const pushed = await gem(['cp', './new.sqlite3', 'live.sqlite3'])
  assert.deepEqual(pushed.control, { exit: 0 }, pushed.stderr)
  assert.equal(pushed.stdout.toString(), 'OK\n')
  assert.deepEqual(await labels(served.port), ['relative', 'relative', 'relative', 'relative'])

  const pulled = await gem(['cp', 'live.sqlite3', './backup.sqlite3'])
  assert.deepEqual(pulled.control, { exit: 0 }, pulled.stderr)
  // As the gem does, a pull into a file says OK on stderr.
  assert.equal(pulled.stderr, 'OK\n')
  assert.equal(pulled.stdout.length, 0)
  assert.equal(labelOf(join(t.dir, 'backup.sqlite3')), 'relative')
  assert.deepEqual(integrity(join(t.dir, 'backup.sqlite3')), ['ok'])
  assert.deepEqual(leftovers(t.dir), [])
})

test('a server-side source with a -wal is read through SQLite, committed WAL rows included', async () => {
  const src = join(t.dir, 'walsrc.sqlite3')
  seed(src, { label: 'before-wal' })
  const writer = new Database(src)
  try {
    writer.pragma('journal_mode = WAL')
    writer.pragma('wal_autocheckpoint = 0')
    writer.prepare("UPDATE meta SET value = 'in-the-wal' WHERE key = 'label'").run()
    assert.ok(existsSync(`${src}-wal`), 'the committed update lives in the -wal')
    const pushed = await gem(['cp', 'walsrc.sqlite3', 'live.sqlite3'])
    assert.deepEqual(pushed.control, { exit: 0 }, pushed.stderr)
  } finally {
    writer.close()
  }
  assert.deepEqual(await labels(served.port), ['in-the-wal', 'in-the-wal', 'in-the-wal', 'in-the-wal'])
  assert.deepEqual(leftovers(t.dir), [])
})

test('a path sent by our client is copied only if it names the file the client stat\'ed', async () => {
  const src = join(t.dir, 'by-path.sqlite3')
  seed(src, { label: 'by-path' })
  const { dev, ino } = statSync(src)
  const ask = async (source: { dev: number, ino: number }): Promise<Exchange> => {
    const req = { args: ['cp', src, 'live.sqlite3'], tty: false, protocol: 1, cwd: t.dir, source }
    const r = await exchange(served.socket, frame(3, JSON.stringify(req)))
    assert.equal(r.timedOut, false)
    return r
  }
  // Another file at that path, as a server in another container or chroot would see it.
  const before = labelOf(live)
  for (const other of [{ dev, ino: ino + 1 }, { dev: dev + 1, ino }]) {
    const refused = await ask(other)
    assert.equal(refused.control?.code, 'HOTSWAP_ERR_SOURCE', refused.stderr)
    assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_SOURCE\] the server sees another file at .* hotswap cp - LIVE < FILE\n$/)
    assert.equal(labelOf(live), before)
  }
  assert.deepEqual(leftovers(t.dir), [])
  const ok = await ask({ dev, ino })
  assert.deepEqual(ok.control, { exit: 0 }, ok.stderr)
  assert.deepEqual(await labels(served.port), ['by-path', 'by-path', 'by-path', 'by-path'])
})

test('server-side sources that cannot be read are refused with HOTSWAP_ERR_SOURCE', async () => {
  const current = labelOf(live)
  writeFileSync(join(t.dir, 'plain-file'), 'x')
  mkdirSync(join(t.dir, 'a-dir.sqlite3'), { recursive: true })
  // Missing; through a non-directory (fails for root too); a directory.
  for (const src of ['./missing.sqlite3', 'plain-file/inner.sqlite3', 'a-dir.sqlite3']) {
    const r = await gem(['cp', src, 'live.sqlite3'])
    assert.equal(r.control?.exit, 1, `${src}: ${r.stderr}`)
    assert.equal(r.control?.code, 'HOTSWAP_ERR_SOURCE', `${src}: ${r.stderr}`)
    assert.match(r.stderr.split('\n')[0] ?? '', /^ERROR: cannot read /, 'the gem\'s client reads "ERROR: message"')
    assert.equal(r.stdout.length, 0)
  }
  assert.equal(labelOf(live), current)
  assert.deepEqual(leftovers(t.dir), [])
})

test('version answers "hotswap <semver>"', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const r = await gem(['version'])
  assert.deepEqual(r.control, { exit: 0 })
  assert.match(r.stdout.toString(), /^hotswap \d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?\n$/)
  assert.equal(r.stdout.toString(), `hotswap ${pkg.version}\n`)
})

test('an unknown command and bad cp usage are answered with exit 2', async () => {
  const unknown = await gem(['frobnicate'])
  assert.equal(unknown.control?.exit, 2)
  assert.equal(unknown.control?.code, 'HOTSWAP_ERR_USAGE')
  const flag = await gem(['cp', '-', 'live.sqlite3', '--bogus'], Buffer.alloc(0))
  assert.equal(flag.control?.exit, 2)
  assert.equal(flag.control?.code, 'HOTSWAP_ERR_USAGE')
  assert.match(flag.stderr, /--bogus/)
  const arity = await gem(['cp', 'live.sqlite3'])
  assert.equal(arity.control?.exit, 2)
  assert.equal(arity.control?.code, 'HOTSWAP_ERR_USAGE')
  // The server decides which side is managed when the gem's client cannot.
  const neither = await gem(['cp', './a.sqlite3', './b.sqlite3'])
  assert.equal(neither.control?.exit, 1)
  assert.equal(neither.control?.code, 'HOTSWAP_ERR_NOT_MANAGED')
  // In the gem's words, with the managed paths.
  assert.equal(neither.stderr, `ERROR: neither path matches a managed database (${realpathSync(live)})\n`)
  const both = await gem(['cp', 'live', './live.sqlite3'])
  assert.equal(both.control?.exit, 1)
  assert.equal(both.control?.code, 'HOTSWAP_ERR_BOTH_MANAGED')
})

// ---------------------------------------------------------------------------------------------
// malformed input ends that connection only

const malformed: Array<{ name: string, bytes: Buffer, replies: boolean }> = [
  { name: 'a control frame that is not JSON', bytes: frame(3, 'this is not json {'), replies: true },
  { name: 'a control frame that is JSON but not an object', bytes: frame(3, '["cp","-","live"]'), replies: true },
  { name: 'a control frame whose args are not strings', bytes: frame(3, '{"args":["cp",1,2],"tty":false}'), replies: true },
  { name: 'a first frame on the stdin channel', bytes: frame(0, 'SQLite format 3\0'), replies: true },
  { name: 'a first frame on the stdout channel', bytes: frame(1, 'hello'), replies: true },
  // The server may reset these before its reply gets out, so only the close is required.
  { name: 'an unknown channel byte', bytes: Buffer.from([7, 0, 0, 0, 1, 0x41]), replies: false },
  { name: 'a control frame length of 2^31', bytes: Buffer.from([3, 0x80, 0, 0, 0, 0x7b]), replies: false },
  { name: 'garbage bytes (an HTTP request)', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), replies: false },
  { name: 'random garbage', bytes: Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]), replies: false },
]

for (const c of malformed) {
  test(`malformed: ${c.name} ends that connection; the server keeps serving`, async () => {
    const current = labelOf(live)
    const r = await exchange(served.socket, c.bytes, { timeoutMs: 8000 })
    assert.equal(r.timedOut, false, 'the server closed the connection')
    if (c.replies) assert.notEqual(r.control, null, 'the server said why')
    if (r.control !== null) {
      assert.notEqual(r.control.exit, 0)
      assert.equal(r.control.code, 'HOTSWAP_ERR_PROTOCOL')
      assert.match(r.stderr, /^ERROR: /, 'no protocol announced: the gem\'s words')
    }
    assert.equal(r.stdout.length, 0, 'nothing on stdout')
    await assertStillServing(current)
  })
}

test('a malformed frame in the middle of an upload aborts that push only', async () => {
  const current = labelOf(live)
  const src = join(t.dir, 'mid.sqlite3')
  seed(src, { label: 'never' })
  const bytes = Buffer.concat([
    frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })),
    frame(0, readFileSync(src).subarray(0, 4096)),
    Buffer.from([9, 0, 0, 0, 4, 1, 2, 3, 4]),
  ])
  const r = await exchange(served.socket, bytes, { timeoutMs: 8000 })
  assert.equal(r.timedOut, false, 'the server closed the connection')
  assert.notEqual(r.control?.exit, 0)
  assert.equal(r.control?.code, 'HOTSWAP_ERR_PROTOCOL')
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [])
  assert.equal(labelOf(live), current)
  await assertStillServing(current)
})

test('a connection that sends nothing does not block other commands or HTTP', async () => {
  const current = labelOf(live)
  // The server drops a silent connection after 10 s; there is no need to wait for that here.
  const idle = net.connect(served.socket)
  idle.on('error', () => {})
  await new Promise<void>((resolve) => idle.once('connect', resolve))
  // A half-sent header on a second connection, too.
  const half = net.connect(served.socket)
  half.on('error', () => {})
  await new Promise<void>((resolve) => half.once('connect', resolve))
  half.write(Buffer.from([3, 0, 0]))
  try {
    await assertStillServing(current)
    const v = await gem(['version'])
    assert.equal(v.control?.exit, 0)
    assert.equal(idle.destroyed, false, 'the silent connection is still open meanwhile')
  } finally {
    idle.destroy()
    half.destroy()
  }
  await assertStillServing(current)
})

// ---------------------------------------------------------------------------------------------
// the socket itself

test('the socket is 0600 inside a 0700 directory', () => {
  const st = lstatSync(served.socket)
  assert.ok(st.isSocket())
  assert.equal(st.mode & 0o777, 0o600)
  assert.equal(statSync(join(served.socket, '..')).mode & 0o777, 0o700)
})

test('a second serve on a live socket refuses, touches nothing, and the first keeps serving', async () => {
  // An upload is half-way in when the second serve starts; the refused serve must not clean up
  // its temp file as if it were an orphan of a dead server, and the upload must then complete.
  const src = join(t.dir, 'during-second-serve.sqlite3')
  seed(src, { label: 'uploaded-across', rows: 3000 })
  const bytes = readFileSync(src)
  const upload = net.connect(served.socket)
  upload.on('error', () => {})
  await new Promise<void>((resolve) => upload.once('connect', resolve))
  let reply = Buffer.alloc(0)
  upload.on('data', (d: Buffer) => { reply = Buffer.concat([reply, d]) })
  const closed = new Promise<void>((resolve) => upload.once('close', () => resolve()))
  const half = Math.floor(bytes.length / 2)
  upload.write(Buffer.concat([frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })), frame(0, bytes.subarray(0, half))]))
  for (let i = 0; i < 250 && leftovers(t.dir).length === 0; i++) await sleep(20)
  const inProgress = leftovers(t.dir)
  assert.equal(inProgress.length, 1, 'the upload is being received into a temp file')

  const port = await freePort()
  const r = await serveOnce([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', served.socket, '--db', live], t.dir)
  assert.notEqual(r.code, 0, r.stderr)
  assert.match(errorLine(r.stderr), /^ERROR \[HOTSWAP_ERR_SOCKET_IN_USE\] /, r.stderr)
  assert.deepEqual(leftovers(t.dir), inProgress, 'the first server\'s temp file is left alone')
  assert.ok(lstatSync(served.socket).isSocket(), 'the live socket is still there')

  // write, not end: the gem's client keeps its side open until the server's control frame.
  upload.write(Buffer.concat([frame(0, bytes.subarray(half)), frame(0, Buffer.alloc(0))]))
  await closed
  // The last frame is the control reply: {"exit":0}.
  assert.ok(reply.length >= 5)
  let at = 0
  let last: { exit?: number } = {}
  let stderr = ''
  while (at + 5 <= reply.length) {
    const len = reply.readUInt32BE(at + 1)
    const payload = reply.subarray(at + 5, at + 5 + len)
    if (reply[at] === 3) last = JSON.parse(payload.toString('utf8')) as { exit?: number }
    if (reply[at] === 2) stderr += payload.toString('utf8')
    at += 5 + len
  }
  assert.deepEqual(last, { exit: 0 }, stderr)
  await assertStillServing('uploaded-across')
})

test('a stale socket left by a SIGKILLed serve is replaced by the next serve', async () => {
  const dir = join(t.dir, 'stale')
  mkdirSync(dir)
  const db = join(dir, 'stale.sqlite3')
  seed(db, { label: 'stale-v1' })
  const first = await startServe({ dir, dbs: [db], workers: 1 })
  const workerPids: number[] = []
  let second: Served | undefined
  try {
    const st = await exchange(first.socket, gemRequest(['status', '--json']))
    for (const w of (JSON.parse(st.stdout.toString('utf8')) as { workers: Array<{ pid: number }> }).workers) workerPids.push(w.pid)
    assert.equal(workerPids.length, 1)

    process.kill(first.pid, 'SIGKILL')
    await first.stop()
    assert.ok(lstatSync(first.socket).isSocket(), 'the killed server left its socket file behind')
    // Its worker notices the lost IPC channel and exits; give it a moment, then make sure.
    for (let i = 0; i < 250 && workerPids.some(alive); i++) await sleep(20)
    for (const pid of workerPids.filter(alive)) process.kill(pid, 'SIGKILL')

    // Nobody listens on the stale socket.
    const none = await cli(['cp', '-', 'stale', '--socket', first.socket], { cwd: dir, input: Buffer.alloc(0) })
    assert.equal(none.code, 1, none.stderr)
    assert.match(none.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, none.stderr)

    // An interrupted swap's temp file is an orphan now, and the next serve removes it.
    const orphan = join(dir, '.stale.sqlite3.hotswap-feedfacecafe.tmp')
    writeFileSync(orphan, 'left by the killed server')
    second = await startServe({ dir, dbs: [db], workers: 1 })
    assert.equal(second.child.exitCode, null, `the next serve started:\n${second.output()}`)
    const st2 = await exchange(second.socket, gemRequest(['status', '--json']))
    assert.equal(st2.control?.exit, 0, st2.stderr)
    assert.equal((await request(second.port, '/label', { keepAlive: false })).json().label, 'stale-v1')
    assert.equal(existsSync(orphan), false, 'the orphaned temp file was cleaned up')
  } finally {
    for (const pid of workerPids.filter(alive)) process.kill(pid, 'SIGKILL')
    await first.stop()
    const code = await second?.stop()
    if (second !== undefined) assert.equal(code, 0)
  }
})

test('a socket directory writable by others is refused', async () => {
  const dir = join(t.dir, 'unsafe')
  const sockDir = join(dir, 'sock')
  mkdirSync(sockDir, { recursive: true })
  chmodSync(sockDir, 0o777)
  const port = await freePort()
  const socket = join(sockDir, 'hotswap.sock')
  const r = await serveOnce([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], t.dir)
  assert.notEqual(r.code, 0, r.stderr)
  assert.match(errorLine(r.stderr), /^ERROR \[HOTSWAP_ERR_SOCKET_UNSAFE\] /, r.stderr)
  assert.equal(existsSync(socket), false, 'no socket was created')
  // Group-writable is just as unsafe.
  chmodSync(sockDir, 0o770)
  const g = await serveOnce([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], t.dir)
  assert.notEqual(g.code, 0, g.stderr)
  assert.match(errorLine(g.stderr), /^ERROR \[HOTSWAP_ERR_SOCKET_UNSAFE\] /, g.stderr)
})

test('serve with a missing app or a missing database file exits with HOTSWAP_ERR_CONFIG', async () => {
  const port = await freePort()
  const socket = join(t.dir, 'cfg', 'sock', 'hotswap.sock')
  const noApp = await serveOnce([join(t.dir, 'no-such-app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], t.dir)
  assert.notEqual(noApp.code, 0, noApp.stderr)
  assert.match(errorLine(noApp.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*no-such-app\.mjs/, noApp.stderr)
  const noDb = await serveOnce([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', join(t.dir, 'no-such.sqlite3')], t.dir)
  assert.notEqual(noDb.code, 0, noDb.stderr)
  assert.match(errorLine(noDb.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*no-such\.sqlite3/, noDb.stderr)
  assert.equal(existsSync(socket), false, 'no socket was created')
})

test('cp with no server listening gives HOTSWAP_ERR_NO_SERVER and exit 1', async () => {
  const socket = join(t.dir, 'nobody', 'hotswap.sock')
  const src = join(t.dir, 'nobody-src.sqlite3')
  seed(src, { label: 'nobody' })
  const byFile = await cli(['cp', src, 'live.sqlite3', '--socket', socket], { cwd: t.dir })
  assert.equal(byFile.code, 1, byFile.stderr)
  assert.match(byFile.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, byFile.stderr)
  const byStdin = await cli(['cp', '-', 'live'], { cwd: t.dir, input: readFileSync(src), env: { HOTSWAP_SOCKET: socket } })
  assert.equal(byStdin.code, 1, byStdin.stderr)
  assert.match(byStdin.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, byStdin.stderr)
  assert.equal(byStdin.stdout.length, 0)
})
