// The install task, called in-process on real SQLite files. Outside connections are real child
// processes, because SQLite's locks (and the hazards they guard against) are per process.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { install } from '../../../src/primary/sqlite/install.js'
import { validate } from '../../../src/primary/sqlite/validate.js'
import { child, integrity, isWalHeader, killChild, makeDb, names, rows, sideFiles, tempDir, validateInput, type TestContext } from './support.js'

/**
 * A live WAL database whose newest rows exist only in its -wal: a child process writes them
 * with automatic checkpoints off and is killed, as a crashed or kill -9'd process would be.
 */
async function liveWithStaleWal (t: TestContext, dir: string): Promise<string> {
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true, rows: rows('base', 5) })
  const proc = await child(t, live, `
    const db = new Database(file)
    db.pragma('wal_autocheckpoint = 0')
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
    for (let i = 0; i < 50; i++) insert.run('old-' + i)
    process.stdout.write('ready\\n')
  `)
  await killChild(proc)
  assert.ok(fs.statSync(live + '-wal').size > 0, 'the -wal is left behind with frames')
  return live
}

function newUpload (dir: string, live: string): string {
  const temp = path.join(dir, '.app.sqlite3.upload')
  makeDb(temp, { rows: rows('new', 7) })
  const checked = validate(validateInput(temp, live))
  assert.ok(checked.ok, JSON.stringify(checked))
  return temp
}

test('the stale-WAL hazard: a naive rename reads the old rows, install reads exactly the new', async (t) => {
  // Control: without the checkpoint and cleanup, SQLite applies the old -wal to the new file.
  const controlDir = tempDir(t)
  const controlLive = await liveWithStaleWal(t, controlDir)
  fs.renameSync(newUpload(controlDir, controlLive), controlLive)
  assert.ok(names(controlLive).some((n) => n.startsWith('old-')), 'the hazard reproduces')

  const dir = tempDir(t)
  const live = await liveWithStaleWal(t, dir)
  const temp = newUpload(dir, live)
  const result = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50, keepPath: null })
  assert.ok(result.ok, JSON.stringify(result))
  assert.deepEqual(Object.keys(result.value.timings).sort(), ['checkpoint', 'cleanup', 'fsyncDir', 'link', 'rename'])
  assert.deepEqual(sideFiles(live), [])
  assert.equal(fs.existsSync(temp), false)
  assert.deepEqual(names(live), rows('new', 7))
  assert.deepEqual(integrity(live), ['ok'])
  assert.equal(isWalHeader(live), true)
})

test('install keeps the old file alive under oldLinkPath, a hard link to the old content', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true, rows: rows('old', 3) })
  const oldInode = fs.statSync(live).ino
  const temp = newUpload(dir, live)
  const result = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50, keepPath: null })
  assert.ok(result.ok, JSON.stringify(result))
  const link = result.value.oldLinkPath
  assert.ok(link !== null)
  assert.equal(path.dirname(link), dir)
  assert.match(path.basename(link), /^\.app\.sqlite3\.hotswap-old-[0-9a-f]+$/)
  const linkStat = fs.statSync(link)
  assert.equal(linkStat.ino, oldInode)
  assert.equal(linkStat.nlink, 1, 'the live name now belongs to the new file')
  assert.notEqual(fs.statSync(live).ino, oldInode)
  assert.deepEqual(names(link), rows('old', 3))
  assert.deepEqual(names(live), rows('new', 7))
})

test('install refuses with HOTSWAP_ERR_DB_BUSY while an outside process reads the WAL database; force proceeds', async (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true, rows: rows('old', 3) })
  await child(t, live, `
    const db = new Database(file)
    db.prepare('INSERT INTO items (name) VALUES (?)').run('outside')
    db.exec('BEGIN')
    db.prepare('SELECT count(*) FROM items').get()
    process.stdout.write('ready\\n')
  `)
  const temp = newUpload(dir, live)
  const start = performance.now()
  const refused = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50, keepPath: null })
  const elapsed = performance.now() - start
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DB_BUSY')
  assert.ok(refused.message.includes(live))
  assert.match(refused.message, /--force/)
  assert.ok(elapsed < 1000, `the short busy timeout bounds the wait (${elapsed} ms)`)
  assert.ok(fs.existsSync(temp), 'nothing was renamed')
  assert.deepEqual(names(live), ['old-0', 'old-1', 'old-2', 'outside'])

  const forced = install({ tempPath: temp, livePath: live, force: true, busyTimeoutMs: 50, keepPath: null })
  assert.ok(forced.ok, JSON.stringify(forced))
  assert.deepEqual(names(live), rows('new', 7))
})

test('install refuses with HOTSWAP_ERR_DB_BUSY while an outside process reads a rollback-journal database', async (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { rows: rows('old', 3) })
  await child(t, live, `
    const db = new Database(file)
    db.exec('BEGIN')
    db.prepare('SELECT count(*) FROM items').get()
    process.stdout.write('ready\\n')
  `)
  const temp = newUpload(dir, live)
  const refused = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50, keepPath: null })
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DB_BUSY')
})
