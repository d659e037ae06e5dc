// The piscina tasks, called in-process on real SQLite files. Outside connections are real
// child processes, because SQLite's locks (and the hazards they guard against) are per process.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { findHolders, install, readSourceThroughSqlite, snapshot, validate } from '../../src/primary/tasks.js'

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3')

type TestContext = { after: (fn: () => void | Promise<void>) => void }

function tempDir (t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotswap-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Runs `body` in a child Node process with `Database` and `file` defined, and resolves once it
 * prints "ready". The child is killed by pid when the test ends, whatever happened.
 */
async function child (t: TestContext, file: string, body: string): Promise<ChildProcess> {
  const script = `
    const Database = require(${JSON.stringify(betterSqlite3)})
    const file = ${JSON.stringify(file)}
    ${body}
    setInterval(() => {}, 1000)
  `
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => killChild(proc))
  let out = ''
  let err = ''
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('ready\n')) resolve()
    })
    proc.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
    proc.on('exit', (code) => reject(new Error(`child exited (${code}) before ready: ${err}`)))
  })
  return proc
}

async function killChild (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  if (proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL')
  await exited
}

function makeDb (file: string, opts: { wal?: boolean, rows?: string[], extraColumn?: boolean } = {}): void {
  const db = new Database(file)
  try {
    if (opts.wal === true) db.pragma('journal_mode = WAL')
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL${opts.extraColumn === true ? ', extra TEXT' : ''})`)
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
    db.transaction(() => { for (const name of opts.rows ?? ['a', 'b', 'c']) insert.run(name) })()
  } finally {
    db.close()
  }
}

function names (file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT name FROM items ORDER BY id').pluck().all() as string[]
  } finally {
    db.close()
  }
}

function integrity (file: string): string[] {
  const db = new Database(file, { fileMustExist: true })
  try {
    return db.prepare('PRAGMA integrity_check').pluck().all() as string[]
  } finally {
    db.close()
  }
}

function sideFiles (file: string): string[] {
  return ['-wal', '-shm', '-journal'].filter((s) => fs.existsSync(file + s))
}

function isWalHeader (file: string): boolean {
  const head = fs.readFileSync(file).subarray(0, 100)
  return head[18] === 2 && head[19] === 2
}

const rows = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

function validateInput (tempPath: string, livePath: string, skip: { integrity?: boolean, schema?: boolean } = {}) {
  return { tempPath, livePath, skipIntegrity: skip.integrity === true, skipSchema: skip.schema === true }
}

// ---------------------------------------------------------------------------------------------
// validate

test('validate accepts a pulled backup and gives it the live WAL mode, leaving no side files', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, '.app.sqlite3.upload-1')
  makeDb(live, { wal: true })
  const db = new Database(live)
  db.prepare('VACUUM INTO ?').run(temp)
  db.close()
  assert.equal(isWalHeader(temp), false, 'VACUUM INTO writes a rollback-journal file')

  const result = validate(validateInput(temp, live))
  assert.ok(result.ok, JSON.stringify(result))
  assert.equal(result.value.journalMode, 'wal')
  assert.equal(result.value.pageSize, 4096)
  assert.equal(result.value.bytes, fs.statSync(temp).size)
  assert.equal(result.value.pageCount * result.value.pageSize, result.value.bytes)
  assert.deepEqual(Object.keys(result.value.timings).sort(), ['fsync', 'header', 'integrity', 'journal', 'schema'])
  assert.equal(isWalHeader(temp), true)
  assert.deepEqual(sideFiles(temp), [])
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.app.sqlite3.upload-1')), ['.app.sqlite3.upload-1'])
  assert.deepEqual(names(temp), ['a', 'b', 'c'])
})

test('validate takes a WAL upload out of WAL when the live database is not in WAL', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live)
  makeDb(temp, { wal: true })
  const result = validate(validateInput(temp, live))
  assert.ok(result.ok, JSON.stringify(result))
  assert.equal(result.value.journalMode, 'delete')
  assert.equal(isWalHeader(temp), false)
  assert.deepEqual(sideFiles(temp), [])
})

test('validate rejects random bytes, an empty file, a truncated file and appended bytes', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { rows: rows('row', 500) })
  const good = fs.readFileSync(live)
  const cases: Array<[string, Buffer, string]> = [
    ['random', randomBytes(8192), 'HOTSWAP_ERR_NOT_SQLITE'],
    ['empty', Buffer.alloc(0), 'HOTSWAP_ERR_EMPTY'],
    ['truncated', good.subarray(0, good.length - 4096), 'HOTSWAP_ERR_TRUNCATED'],
    ['cut', good.subarray(0, good.length - 10), 'HOTSWAP_ERR_TRUNCATED'],
    ['appended', Buffer.concat([good, Buffer.from('trailing garbage')]), 'HOTSWAP_ERR_TRUNCATED'],
  ]
  for (const [name, bytes, code] of cases) {
    const temp = path.join(dir, `upload-${name}`)
    fs.writeFileSync(temp, bytes)
    const result = validate(validateInput(temp, live))
    assert.ok(!result.ok, name)
    assert.equal(result.code, code, `${name}: ${result.message}`)
    assert.deepEqual(sideFiles(temp), [], name)
    assert.ok(fs.existsSync(temp), 'the caller unlinks the temp file, not validate')
  }
})

test('validate rejects a schema mismatch with the diff in details, unless skipped', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live, { wal: true })
  makeDb(temp, { extraColumn: true })
  const result = validate(validateInput(temp, live))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_SCHEMA_MISMATCH')
  assert.deepEqual(result.details, [
    '- table items: create table items(id integer primary key,name text not null)',
    '+ table items: create table items(id integer primary key,name text not null,extra text)',
  ])
  assert.deepEqual(sideFiles(temp), [])

  const skipped = validate(validateInput(temp, live, { schema: true }))
  assert.ok(skipped.ok, JSON.stringify(skipped))
  assert.equal(skipped.value.timings.schema, undefined)
  assert.equal(skipped.value.journalMode, 'wal')
})

test('validate rejects a corrupted b-tree page, unless the integrity check is skipped', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  const temp = path.join(dir, 'upload')
  makeDb(live)
  makeDb(temp, { rows: rows('x'.repeat(100), 2000) })
  const size = fs.statSync(temp).size
  assert.ok(size / 4096 > 40, 'the table spans many pages')
  // Overwrite page 20 (a page of the items b-tree) with garbage; size and header stay valid.
  const fd = fs.openSync(temp, 'r+')
  fs.writeSync(fd, randomBytes(4096), 0, 4096, 19 * 4096)
  fs.closeSync(fd)

  const result = validate(validateInput(temp, live))
  assert.ok(!result.ok)
  assert.ok(['HOTSWAP_ERR_INTEGRITY', 'HOTSWAP_ERR_NOT_SQLITE'].includes(result.code), result.code)
  assert.ok(result.details.length > 0)
  assert.deepEqual(sideFiles(temp), [])

  const skipped = validate(validateInput(temp, live, { integrity: true }))
  assert.ok(skipped.ok, JSON.stringify(skipped))
  assert.equal(skipped.value.timings.integrity, undefined)
})

test('validate reports an unreadable live database as HOTSWAP_ERR_INTERNAL', (t) => {
  const dir = tempDir(t)
  const temp = path.join(dir, 'upload')
  makeDb(temp)
  const result = validate(validateInput(temp, path.join(dir, 'missing.sqlite3')))
  assert.ok(!result.ok)
  assert.equal(result.code, 'HOTSWAP_ERR_INTERNAL')
  assert.deepEqual(sideFiles(temp), [])
})

// ---------------------------------------------------------------------------------------------
// install

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
  const result = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50 })
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
  const result = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50 })
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
  const refused = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50 })
  const elapsed = performance.now() - start
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DB_BUSY')
  assert.ok(refused.message.includes(live))
  assert.match(refused.message, /--force/)
  assert.ok(elapsed < 1000, `the short busy timeout bounds the wait (${elapsed} ms)`)
  assert.ok(fs.existsSync(temp), 'nothing was renamed')
  assert.deepEqual(names(live), ['old-0', 'old-1', 'old-2', 'outside'])

  const forced = install({ tempPath: temp, livePath: live, force: true, busyTimeoutMs: 50 })
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
  const refused = install({ tempPath: temp, livePath: live, force: false, busyTimeoutMs: 50 })
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DB_BUSY')
})

// ---------------------------------------------------------------------------------------------
// findHolders

test('findHolders finds an outside process that has the database open, and skips excluded pids', async (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true })
  // Opened and queried once, then idle: no lock or checkpoint reveals this process.
  const proc = await child(t, live, `
    const db = new Database(file)
    db.prepare('SELECT count(*) FROM items').get()
    process.stdout.write('ready\\n')
  `)
  // This process holds the file open too, and is never reported.
  const own = new Database(live, { readonly: true })
  t.after(() => { own.close() })

  const holders = findHolders({ paths: [live], excludePids: [] })
  if (process.platform !== 'linux') {
    assert.deepEqual(holders, [])
    return
  }
  const mine = holders.filter((h) => h.pid === proc.pid)
  assert.ok(mine.some((h) => h.path === live), JSON.stringify(holders))
  assert.ok(mine.some((h) => h.path === live + '-wal'), JSON.stringify(holders))
  assert.ok(mine.every((h) => h.command.startsWith(process.execPath) && h.command.length <= 120))
  assert.ok(holders.every((h) => h.pid !== process.pid))

  const excluded = findHolders({ paths: [live], excludePids: [proc.pid ?? -1] })
  assert.deepEqual(excluded.filter((h) => h.pid === proc.pid), [])
  assert.deepEqual(findHolders({ paths: [path.join(dir, 'other.sqlite3')], excludePids: [] }), [])
})

// ---------------------------------------------------------------------------------------------
// snapshot and readSourceThroughSqlite

test('snapshot is consistent while an outside process keeps committing', async (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live, { wal: true, rows: rows('y'.repeat(200), 20000) })
  const writer = await child(t, live, `
    const db = new Database(file)
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)')
    let n = 0
    const tick = () => {
      insert.run('written-' + n)
      n++
      if (n === 100) process.stdout.write('ready\\n')
      setImmediate(tick)
    }
    tick()
  `)
  const before = names(live).length
  const dest = path.join(dir, 'snapshot.sqlite3')
  const result = snapshot({ livePath: live, destPath: dest })
  assert.ok(result.ok, JSON.stringify(result))
  await killChild(writer)
  const after = names(live).length

  assert.equal(result.value.bytes, fs.statSync(dest).size)
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600)
  assert.deepEqual(integrity(dest), ['ok'])
  const db = new Database(dest, { readonly: true })
  const { count, max } = db.prepare('SELECT count(*) AS count, max(id) AS max FROM items').get() as { count: number, max: number }
  db.close()
  assert.ok(count >= before, `snapshot has ${count} rows, ${before} were committed before it`)
  assert.equal(count, max, 'no gaps: every committed row up to the snapshot is there')
  assert.ok(after > before, 'the writer kept committing')
  assert.deepEqual(sideFiles(dest), [])
})

test('snapshot refuses an existing destination and cleans up after an unreadable source', (t) => {
  const dir = tempDir(t)
  const live = path.join(dir, 'app.sqlite3')
  makeDb(live)
  const existing = path.join(dir, 'existing')
  fs.writeFileSync(existing, 'keep me')
  const refused = snapshot({ livePath: live, destPath: existing })
  assert.ok(!refused.ok)
  assert.equal(refused.code, 'HOTSWAP_ERR_DESTINATION')
  assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me')

  const junk = path.join(dir, 'junk')
  fs.writeFileSync(junk, randomBytes(8192))
  const dest = path.join(dir, 'out')
  const bad = snapshot({ livePath: junk, destPath: dest })
  assert.ok(!bad.ok)
  assert.equal(bad.code, 'HOTSWAP_ERR_SOURCE')
  assert.equal(fs.existsSync(dest), false)
})

test('readSourceThroughSqlite keeps the committed rows a raw copy of a WAL source loses', async (t) => {
  const dir = tempDir(t)
  const src = path.join(dir, 'local.sqlite3')
  makeDb(src, { wal: true, rows: rows('base', 2) })
  // The writer is another process: copying a file with fs here would drop the POSIX locks of
  // any connection this process held on it.
  const writer = await child(t, src, `
    const db = new Database(file)
    db.pragma('wal_autocheckpoint = 0')
    db.prepare('INSERT INTO items (name) VALUES (?)').run('in-wal')
    process.stdout.write('ready\\n')
  `)
  await killChild(writer)

  const raw = path.join(dir, 'raw.sqlite3')
  fs.copyFileSync(src, raw)
  assert.deepEqual(names(raw), ['base-0', 'base-1'], 'a raw copy misses the row in the -wal')

  const dest = path.join(dir, 'through.sqlite3')
  const result = readSourceThroughSqlite({ srcPath: src, destPath: dest })
  assert.ok(result.ok, JSON.stringify(result))
  assert.deepEqual(names(dest), ['base-0', 'base-1', 'in-wal'])
  assert.deepEqual(sideFiles(dest), [])
})
