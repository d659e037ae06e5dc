// The control socket as the hotswap gem's client sees it: its framing, unchanged, with no
// protocol or cwd fields; malformed input that ends one connection and nothing else; frame size
// limits (a 1 MiB control frame, a 64 MiB stdin frame) enforced from the header. (The
// socket file's own safety rules are socket-safety.test.ts.)

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { assertStillServing, type Exchange, exchange as rawExchange, frame, gemStream, integrity, labelOf, labels, leftovers, ROOT, seed, type Served, serveLiveForFile, sleep, status, tempDir, walSource } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

// The gem's framing comes from the support module (written apart from src/); its client would
// choke on a frame of another channel or a control frame that is not JSON, so every exchange
// here asserts that none came.

async function exchange (socketPath: string, bytes: Buffer, opts: { pieces?: number, timeoutMs?: number } = {}): Promise<Exchange> {
  const r = await rawExchange(socketPath, bytes, { ...opts, uneven: true })
  assert.deepEqual(r.oddities, [], 'only frames the gem can read')
  return r
}

/** What the gem sends: {"args","tty"} and nothing else; stdin frames (16 KiB) and an empty frame when given. */
function gemRequest (args: string[], stdin?: Buffer): Buffer {
  return gemStream(args, stdin, 16 * 1024)
}

async function gem (args: string[], stdin?: Buffer, pieces = 1): Promise<Exchange> {
  const r = await exchange(served.socket, gemRequest(args, stdin), { pieces })
  assert.equal(r.timedOut, false, `the server answered ${args.join(' ')}`)
  return r
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
  const writer = walSource(src, 'in-the-wal') // seed() made it a WAL database
  try {
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
    await assertStillServing(served, current)
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
  await assertStillServing(served, current)
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
    await assertStillServing(served, current)
    const v = await gem(['version'])
    assert.equal(v.control?.exit, 0)
    assert.equal(idle.destroyed, false, 'the silent connection is still open meanwhile')
  } finally {
    idle.destroy()
    half.destroy()
  }
  await assertStillServing(served, current)
})

// ---------------------------------------------------------------------------------------------
// frame size limits

test('a control frame of exactly 1 MiB is accepted; one byte more is refused from its header', async () => {
  const LIMIT = 1024 * 1024
  const base = JSON.stringify({ args: ['version'], tty: false, pad: '' })
  const json = base.replace('"pad":""', `"pad":"${'x'.repeat(LIMIT - base.length)}"`)
  assert.equal(Buffer.byteLength(json), LIMIT)
  const atLimit = await rawExchange(served.socket, frame(3, json))
  assert.equal(atLimit.control?.exit, 0, atLimit.stderr)
  assert.match(atLimit.stdout.toString(), /^hotswap \d+\.\d+\.\d+/)

  const over = json.replace('"pad":"', '"pad":"x')
  assert.equal(Buffer.byteLength(over), LIMIT + 1)
  const refused = await rawExchange(served.socket, frame(3, over), { timeoutMs: 10_000 })
  assert.equal(refused.timedOut, false, 'the server ended the connection')
  assert.equal(refused.control?.code, 'HOTSWAP_ERR_PROTOCOL', refused.stderr)
  assert.match(refused.stderr, /exceeds the limit of 1048576/)
  // The same refusal needs no more than the 5-byte header.
  const header = Buffer.alloc(5)
  header.writeUInt8(3, 0)
  header.writeUInt32BE(LIMIT + 1, 1)
  const headerOnly = await rawExchange(served.socket, header, { timeoutMs: 10_000 })
  assert.equal(headerOnly.control?.code, 'HOTSWAP_ERR_PROTOCOL')
  assert.equal((await status(served.socket)).workers.length, 2)
})

test('a stdin frame over 64 MiB aborts the push from its header; nothing changes', async () => {
  const before = labelOf(live)
  const header = Buffer.alloc(5)
  header.writeUInt8(0, 0)
  header.writeUInt32BE(64 * 1024 * 1024 + 1, 1)
  const r = await rawExchange(served.socket, Buffer.concat([gemStream(['cp', '-', 'live']), header]), { timeoutMs: 10_000 })
  assert.equal(r.timedOut, false)
  assert.equal(r.control?.code, 'HOTSWAP_ERR_PROTOCOL', r.stderr)
  for (let i = 0; i < 100 && leftovers(t.dir).length > 0; i++) await sleep(20)
  assert.deepEqual(leftovers(t.dir), [])
  assert.equal(labelOf(live), before)
})
