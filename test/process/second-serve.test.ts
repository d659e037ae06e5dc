// A second `hotswap serve` on the same database (another --socket) took the
// first one's upload in progress for an orphan and deleted it at start-up. Each primary now
// holds a lock beside every database it manages (`.NAME.hotswap-lock`, an fcntl lock taken
// through SQLite); a second one is refused at start-up, naming the first one's pid, and touches
// nothing. The kernel drops the lock with the process, so a crashed primary leaves none behind.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fixture, frame, freePort, labelOf, leftovers, liveForFile, request, seed, type Served, startServe, startServeArgs, tempDir, waitExit, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let live: string
const servers: Served[] = []

after(async () => {
  for (const s of servers) await s.stop()
})

liveForFile({}, (s) => { ({ t, live } = s) })

/** `hotswap serve` on `dbPath` with a socket of its own. */
async function serveOn (name: string, dbPath: string): Promise<Served> {
  const port = await freePort()
  const socket = join(t.dir, name, 'hotswap.sock')
  const s = await startServeArgs({
    dir: t.dir,
    args: [fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', dbPath],
    port,
    socket,
  })
  servers.push(s)
  return s
}

const uploads = (): string[] => readdirSync(t.dir).filter((n) => /^\.live\.sqlite3\.hotswap-[0-9a-f]+\.tmp$/.test(n))

test('a second serve on the same database is refused and the first one\'s upload in progress completes', async () => {
  const first = await serveOn('sock-1', live)
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v1' })
  const bytes = readFileSync(next)

  // An upload in the gem's framing, cut in two: its temp file waits beside the database.
  const client = net.connect(first.socket)
  const replies: Buffer[] = []
  client.on('data', (d: Buffer) => replies.push(d))
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  const half = Math.floor(bytes.length / 2)
  client.write(frame(3, JSON.stringify({ args: ['cp', '-', 'live.sqlite3'], tty: false })))
  client.write(frame(0, bytes.subarray(0, half)))
  await waitUntil('the upload\'s temp file', () => uploads().length === 1)
  const temp = uploads()[0] as string

  // Another socket, the same file, named through a symlink: still the same database.
  symlinkSync(live, join(t.dir, 'alias.sqlite3'))
  const second = await serveOn('sock-2', join(t.dir, 'alias.sqlite3'))
  const code = await waitExit(second)
  assert.equal(code, 1, second.output())
  const errors = second.output().split('\n').filter((l) => l.startsWith('ERROR '))
  assert.equal(errors.length, 1, second.output())
  assert.match(errors[0] as string, new RegExp(`^ERROR \\[HOTSWAP_ERR_ALREADY_SERVED\\] .*live\\.sqlite3 is managed by another hotswap serve \\(pid ${first.pid}\\)`))
  assert.ok(!/worker \d started/.test(second.output()), 'the refused serve started no worker')
  assert.equal(existsSync(second.socket), false, 'and left no socket behind')
  assert.equal(existsSync(join(t.dir, temp)), true, 'the first server\'s upload is still there')

  client.write(frame(0, bytes.subarray(half)))
  client.write(frame(0, Buffer.alloc(0)))
  await closed
  const reply = Buffer.concat(replies).toString('latin1')
  assert.match(reply, /OK\n/, reply)
  assert.match(reply, /"exit":0/, reply)
  assert.equal(labelOf(live), 'v1')
  assert.equal((await request(first.port, '/label')).json().label, 'v1')
  assert.deepEqual(leftovers(t.dir), [])
  assert.equal(await first.stop(), 0)
  assert.doesNotMatch(first.output(), /left by an interrupted swap/, 'the lock leaves no side file to clean up')
})

test('the lock goes with its primary: after a stop, and after a SIGKILL, the next serve starts', async () => {
  const a = await serveOn('sock-3', live)
  assert.equal(await a.stop(), 0)
  const b = await serveOn('sock-4', live)
  assert.equal(b.child.exitCode, null, b.output())
  assert.equal((await request(b.port, '/label')).json().label, 'v1')
  b.child.kill('SIGKILL')
  await waitExit(b)
  const c = await startServe({ dir: t.dir, dbs: [live], workers: 1 })
  servers.push(c)
  assert.equal(c.child.exitCode, null, c.output())
  assert.equal((await request(c.port, '/label')).json().label, 'v1')
})

test('a lock file this user may not write is refused (it would only get a shared read lock)', async () => {
  const NOBODY = 65534
  chmodSync(t.dir, 0o755)
  const dir = join(t.dir, 'nobody')
  mkdirSync(dir)
  const db = join(dir, 'n.sqlite3')
  seed(db, { label: 'n0' })
  chownSync(dir, NOBODY, NOBODY)
  chownSync(db, NOBODY, NOBODY)
  writeFileSync(join(dir, '.n.sqlite3.hotswap-lock'), '') // left by a serve run as root once
  const s = await startServe({ dir, dbs: [db], workers: 1, as: { uid: NOBODY, gid: NOBODY } })
  servers.push(s)
  assert.equal(await waitExit(s), 1, s.output())
  assert.match(s.output(), /ERROR \[HOTSWAP_ERR_CONFIG\] cannot lock .*n\.sqlite3 for this server: .*hotswap-lock is not writable by this user \(uid 65534, the file's is 0\)/)
})
