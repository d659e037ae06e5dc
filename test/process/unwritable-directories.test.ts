// Folders the server's user cannot write, each named in one coded line. Tests run as root, so
// the server runs as nobody, in folders owned by root with mode 0755 (root is not refused):
//   - a database folder: serve started, its workers crash-looped on "attempt to write a readonly
//     database" and the first push failed as `HOTSWAP_ERR_SOURCE cannot read -`; now serve
//     refuses it at start-up, and a push into a folder made unwritable since is refused, both as
//     HOTSWAP_ERR_DESTINATION naming the folder;
//   - a working directory where the default socket (tmp/sockets/hotswap.sock) cannot be made:
//     the error says to give --socket or HOTSWAP_SOCKET.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, errorLine, fixture, folderForOtherUsers, freePort, labelOf, seed, type Served, startServeArgs, waitExit } from '../support/index.js'

const NOBODY = { uid: 65534, gid: 65534 }

// nobody's server must reach its folders
const t = folderForOtherUsers()

/** A folder owned by `owner` (root unless told), mode 0755, holding what `fill` puts there. */
function folder (name: string, owner = { uid: 0, gid: 0 }): string {
  const dir = join(t.dir, name)
  mkdirSync(dir, { mode: 0o755 })
  chmodSync(dir, 0o755)
  chownSync(dir, owner.uid, owner.gid)
  return dir
}

/** A seeded database nobody owns, in `dir`. */
function nobodysDb (dir: string): string {
  const db = join(dir, 'live.sqlite3')
  seed(db, { label: 'v0' })
  chownSync(db, NOBODY.uid, NOBODY.gid)
  return db
}

/** A private socket folder for nobody's server. */
function nobodysSocket (name: string): string {
  const dir = folder(name, NOBODY)
  chmodSync(dir, 0o700)
  return join(dir, 'hotswap.sock')
}

/** `hotswap serve` as nobody, from `cwd`; returns once its worker listens or it exits. */
async function serveAsNobody (cwd: string, args: string[], socket: string): Promise<Served> {
  const port = await freePort()
  const served = await startServeArgs({
    dir: cwd,
    args: [fixture('app.mjs'), '--workers', '1', '--port', String(port), ...args],
    port,
    socket,
    as: NOBODY,
    env: { HOME: t.dir },
  })
  t.servers.push(served)
  return served
}

test('serve as a user who cannot write the database folder: refused at start-up, DESTINATION naming the folder', async () => {
  const dbDir = folder('db-root-owned')
  const db = nobodysDb(dbDir)
  const socket = nobodysSocket('sock-1')
  const served = await serveAsNobody(t.dir, ['--db', db, '--socket', socket], socket)
  const code = await waitExit(served)
  const line = errorLine(served.output())
  assert.match(line, /^ERROR \[HOTSWAP_ERR_DESTINATION\] /, served.output().slice(-2000))
  assert.ok(line.includes(`the database directory ${dbDir} is not writable`), line)
  assert.equal(code, 1)
  assert.equal(served.logs().some((l) => /worker \d+ started/.test(String(l.message))), false, 'no worker was started')
  assert.equal(existsSync(socket), false, 'serve never listened')
  assert.deepEqual(readdirSync(dbDir), ['live.sqlite3'], 'nothing written beside the database')
})

test('a push into a database folder made unwritable after the start: DESTINATION naming the folder, the live file untouched', async () => {
  const dbDir = folder('db-nobody-owned', NOBODY)
  const db = nobodysDb(dbDir)
  const socket = nobodysSocket('sock-2')
  const served = await serveAsNobody(t.dir, ['--db', db, '--socket', socket], socket)
  assert.equal(served.child.exitCode, null, served.output().slice(-2000))
  chownSync(dbDir, 0, 0)
  try {
    const next = join(t.dir, 'next.sqlite3')
    seed(next, { label: 'v1' })
    for (const src of ['-', next]) {
      const res = await cli(['cp', src, 'live', '--socket', socket], { cwd: t.dir, input: src === '-' ? readFileSync(next) : undefined })
      assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_DESTINATION\] /, `cp ${src} live: ${res.stderr}`)
      assert.ok(res.stderr.includes(`the database directory ${dbDir} is not writable`), res.stderr)
      assert.equal(res.code, 1)
    }
    assert.equal(labelOf(db), 'v0')
  } finally {
    chownSync(dbDir, NOBODY.uid, NOBODY.gid)
  }
  assert.equal(await served.stop(), 0)
})

test('the default socket in a working directory the user cannot write: CONFIG, and it says --socket', async () => {
  const dbDir = folder('db-for-socket', NOBODY)
  const db = nobodysDb(dbDir)
  const cwd = folder('app-root-owned')
  const socket = join(cwd, 'tmp', 'sockets', 'hotswap.sock')
  const served = await serveAsNobody(cwd, ['--db', db], socket)
  const code = await waitExit(served)
  const line = errorLine(served.output())
  assert.match(line, /^ERROR \[HOTSWAP_ERR_CONFIG\] cannot create the socket directory /, served.output().slice(-2000))
  assert.match(line, /tmp\/sockets\/hotswap\.sock under the working directory/)
  assert.match(line, /--socket PATH or HOTSWAP_SOCKET/)
  assert.equal(code, 1)
  assert.deepEqual(readdirSync(cwd), [], 'nothing made in the working directory')
})
