// The control socket file's safety rules: it is 0600 inside a 0700 directory; a live socket is
// never stolen (a second serve refuses, touches nothing, and an upload in progress completes); a
// stale one, left by a SIGKILLed serve, is replaced by the next serve, which also removes the
// killed server's orphaned temp file; a socket directory writable by others, or owned by another
// user, is refused.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { assertStillServing, BIN, cli, errorLine, exchange, fixture, frame, freePort, gemStream, isAlive, kill, leftovers, request, seed, type Served, serveLiveForFile, serveToExit, sleep, startServe, tempDir, type StatusReport } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

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
  const r = await serveToExit([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', served.socket, '--db', live], { cwd: t.dir })
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
  await assertStillServing(served, 'uploaded-across')
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
    const st = await exchange(first.socket, gemStream(['status', '--json']))
    for (const w of (JSON.parse(st.stdout.toString('utf8')) as StatusReport).workers) workerPids.push(w.pid)
    assert.equal(workerPids.length, 1)

    process.kill(first.pid, 'SIGKILL')
    await first.stop()
    assert.ok(lstatSync(first.socket).isSocket(), 'the killed server left its socket file behind')
    // Its worker notices the lost IPC channel and exits; give it a moment, then make sure.
    for (let i = 0; i < 250 && workerPids.some(isAlive); i++) await sleep(20)
    for (const pid of workerPids.filter(isAlive)) process.kill(pid, 'SIGKILL')

    // Nobody listens on the stale socket.
    const none = await cli(['cp', '-', 'stale', '--socket', first.socket], { cwd: dir, input: Buffer.alloc(0) })
    assert.equal(none.code, 1, none.stderr)
    assert.match(none.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, none.stderr)

    // An interrupted swap's temp file is an orphan now, and the next serve removes it.
    const orphan = join(dir, '.stale.sqlite3.hotswap-feedfacecafe.tmp')
    writeFileSync(orphan, 'left by the killed server')
    second = await startServe({ dir, dbs: [db], workers: 1 })
    assert.equal(second.child.exitCode, null, `the next serve started:\n${second.output()}`)
    const st2 = await exchange(second.socket, gemStream(['status', '--json']))
    assert.equal(st2.control?.exit, 0, st2.stderr)
    assert.equal((await request(second.port, '/label', { keepAlive: false })).json().label, 'stale-v1')
    assert.equal(existsSync(orphan), false, 'the orphaned temp file was cleaned up')
  } finally {
    for (const pid of workerPids.filter(isAlive)) process.kill(pid, 'SIGKILL')
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
  const r = await serveToExit([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], { cwd: t.dir })
  assert.notEqual(r.code, 0, r.stderr)
  assert.match(errorLine(r.stderr), /^ERROR \[HOTSWAP_ERR_SOCKET_UNSAFE\] /, r.stderr)
  assert.equal(existsSync(socket), false, 'no socket was created')
  // Group-writable is just as unsafe.
  chmodSync(sockDir, 0o770)
  const g = await serveToExit([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], { cwd: t.dir })
  assert.notEqual(g.code, 0, g.stderr)
  assert.match(errorLine(g.stderr), /^ERROR \[HOTSWAP_ERR_SOCKET_UNSAFE\] /, g.stderr)
})


test('a socket directory owned by another user is refused', async () => {
  let sockDir: string
  let how: string
  if (process.getuid?.() === 0) {
    sockDir = join(t.dir, 'not-mine')
    mkdirSync(sockDir, { mode: 0o700 })
    chownSync(sockDir, 65534, 65534) // nobody
    how = 'chowned to nobody'
  } else {
    // Not root: any root-owned 0755 directory is someone else's.
    sockDir = '/usr/share'
    how = 'root-owned /usr/share'
  }
  const owner = statSync(sockDir).uid
  assert.notEqual(owner, process.getuid?.(), how)
  const socket = join(sockDir, 'hotswap-test.sock')
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'serve', fixture('faults-app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], {
    cwd: t.dir, env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdout.resume()
  const timer = setTimeout(() => kill(child.pid as number), 20_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  assert.notEqual(code, 0)
  assert.match(stderr, new RegExp(`ERROR \\[HOTSWAP_ERR_SOCKET_UNSAFE\\] the socket directory ${sockDir.replace(/[/.]/g, '\\$&')} is owned by uid ${owner}`), stderr)
  assert.equal(existsSync(socket), false, 'no socket was created')
})
