// `hotswap cp FILE LIVE` and `cp LIVE FILE` from a client that does not see the server's files
// (another container, another root): the bytes are streamed through the socket instead of the
// path being sent. Here client and server share a machine, so the client is made to see a
// different server: it talks through a proxy socket that rewrites one field of `status --json`
// (the server's root directory) and passes every other byte through untouched. Client, server
// and the streamed paths under test are the real ones.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { cli, labelOf, labels, leftovers, otherRootProxy, seed, type Served, serveLiveForFile, tempDir, walSource } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let proxy: net.Server
let proxySocket: string

after(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()))
})

serveLiveForFile({ workers: 2 }, async (s) => {
  ({ t, served } = s)
  proxySocket = join(t.dir, 'proxy.sock')
  proxy = await otherRootProxy(served.socket, proxySocket)
})

function commandsSince (from: number): string[] {
  return served.logs().slice(from).map((l) => String(l.message)).filter((m) => m.startsWith('command: cp'))
}

test('the proxy makes the client see another server: the file is streamed, not sent as a path', async () => {
  seed(join(t.dir, 'v1.sqlite3'), { label: 'v1', rows: 5_000 })
  const from = served.logs().length
  const r = await cli(['cp', 'v1.sqlite3', 'live.sqlite3', '--socket', proxySocket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'OK\n')
  assert.deepEqual(commandsSince(from), ['command: cp - live.sqlite3'])
  assert.deepEqual(await labels(served.port), ['v1', 'v1', 'v1', 'v1'])
})

test('a streamed source with a -wal is read through SQLite on the client: rows only in the -wal arrive', async () => {
  const src = join(t.dir, 'walsrc.sqlite3')
  const writer = walSource(src, 'in-the-wal')
  try {
    assert.ok(existsSync(`${src}-wal`), 'the committed update lives in the -wal')
    const from = served.logs().length
    const r = await cli(['cp', src, 'live', '--socket', proxySocket], { cwd: t.dir })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(commandsSince(from), ['command: cp - live'])
  } finally {
    writer.close()
  }
  assert.deepEqual(await labels(served.port), ['in-the-wal', 'in-the-wal', 'in-the-wal', 'in-the-wal'])
  assert.deepEqual(leftovers(t.dir), [])
})

test('a pull to a file is streamed into a private temp file here and renamed in', async () => {
  const from = served.logs().length
  const r = await cli(['cp', 'live', 'backup.sqlite3', '--socket', proxySocket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'OK\n')
  assert.deepEqual(commandsSince(from), ['command: cp live -'])
  const backup = join(t.dir, 'backup.sqlite3')
  assert.equal(labelOf(backup), 'in-the-wal')
  assert.equal(statSync(backup).mode & 0o777, 0o600)
  assert.deepEqual(leftovers(t.dir), [])
})
