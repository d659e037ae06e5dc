// A first deploy on a database that does not exist yet: `serve --db PATH --create` (or "create":
// true in the config file) makes PATH an empty SQLite database in WAL mode, 0600, before anything
// else starts; the app serves on it, and the first `hotswap cp` push brings the real database (an
// empty live schema asks for no schema match). Without --create a missing --db is refused, with
// a hint.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, errorLine, fixture, freePort, labelOf, request, seed, serveToExit, startServe, startServeArgs, testDir } from '../support/index.js'

const escape = (s: string): string => s.replace(/[.()]/g, '\\$&')

/** Bytes 18-19 of a SQLite header: 2 and 2 for WAL, 1 and 1 for a rollback journal. */
function headerModes (file: string): number[] {
  const head = readFileSync(file).subarray(18, 20)
  return [head[0], head[1]]
}

test('serve --create on a missing file: an empty WAL database (0600), served, and a push then swaps in the real one', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'first.sqlite3')
  const served = await startServe({ dir, dbs: [file], app: fixture('dev-app.mjs'), workers: 1, args: ['--create'] })
  t.after(async () => { await served.stop() })
  assert.equal(served.child.exitCode, null, served.output())
  assert.equal(statSync(file).mode & 0o777, 0o600, 'private to the server\'s user')
  assert.deepEqual(headerModes(file), [2, 2], 'WAL recorded in the header')
  await served.waitForLog(new RegExp(`created an empty database \\(WAL journal mode\\) at ${escape(file)}`))
  const tables = await request(served.port, '/tables', { keepAlive: false })
  assert.deepEqual({ ...tables.json(), file: undefined }, { tables: [], journalMode: 'wal', readonly: false, file: undefined })

  const real = join(dir, 'real.sqlite3')
  seed(real, { label: 'real' })
  const push = await cli(['cp', real, file, '--socket', served.socket], { cwd: dir })
  assert.equal(push.code, 0, push.stderr)
  assert.equal((await request(served.port, '/label', { keepAlive: false })).json().label, 'real')
  assert.equal(await served.stop(), 0)
  assert.equal(labelOf(file), 'real')
})

test('"create": true in the config file creates a missing database and leaves an existing one as it is', async (t) => {
  const dir = testDir(t)
  const kept = join(dir, 'kept.sqlite3')
  seed(kept, { label: 'kept' })
  const port = await freePort()
  const socket = join(dir, 'hotswap.sock')
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    app: fixture('app.mjs'), db: ['kept.sqlite3', 'fresh=sub-missing.sqlite3'], create: true, workers: 1, port, socket,
  }))
  const served = await startServeArgs({ dir, args: [], port, socket })
  t.after(async () => { await served.stop() })
  assert.equal(served.child.exitCode, null, served.output())
  assert.equal((await request(port, '/label', { keepAlive: false })).json().label, 'kept')
  assert.deepEqual(headerModes(join(dir, 'sub-missing.sqlite3')), [2, 2])
  assert.equal(await served.stop(), 0)
})

test('without --create a missing --db exits 1 with HOTSWAP_ERR_CONFIG naming it and the hint; nothing is created', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'absent.sqlite3')
  const socket = join(dir, 'sock', 'hotswap.sock')
  const res = await serveToExit([fixture('app.mjs'), '--db', file, '--workers', '1', '--socket', socket], { cwd: dir })
  assert.equal(res.code, 1, res.stderr)
  assert.equal(errorLine(res.stderr), `ERROR [HOTSWAP_ERR_CONFIG] database file not found: ${file} (pass --create to start on an empty database)`)
  assert.equal(existsSync(file), false)
  assert.equal(existsSync(socket), false)
})

test('--create in a directory that does not exist exits 1 naming the directory; nothing is created', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'nodir', 'app.sqlite3')
  const res = await serveToExit([fixture('app.mjs'), '--db', file, '--create', '--workers', '1', '--socket', join(dir, 'hotswap.sock')], { cwd: dir })
  assert.equal(res.code, 1, res.stderr)
  assert.equal(errorLine(res.stderr), `ERROR [HOTSWAP_ERR_CONFIG] cannot create the database ${file}: its directory ${join(dir, 'nodir')} does not exist`)
  assert.equal(existsSync(join(dir, 'nodir')), false)
})
