// vacuumInto, the one VACUUM INTO of both sides of the socket: its file is private (0600)
// whatever the umask, and a failure says at which step and leaves nothing behind.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { vacuumInto } from '../../../src/primary/sqlite/vacuum-into.js'
import { makeDb, names, sideFiles, tempDir } from './support.js'

test('vacuumInto writes a 0600 copy whatever the umask', (t) => {
  const dir = tempDir(t)
  const src = makeDb(path.join(dir, 'src.sqlite3'), { wal: true })
  const dest = path.join(dir, 'copy.sqlite3')
  const old = process.umask(0o022)
  let copied
  try {
    copied = vacuumInto(src, dest)
  } finally {
    process.umask(old)
  }
  assert.ok(copied.ok, JSON.stringify(copied))
  assert.equal(copied.bytes, fs.statSync(dest).size)
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600)
  assert.deepEqual(names(dest), ['a', 'b', 'c'])
  assert.deepEqual(sideFiles(dest), [])
})

test('vacuumInto names the failing step (the client words each its own way) and leaves nothing', (t) => {
  const dir = tempDir(t)
  const db = makeDb(path.join(dir, 'src.sqlite3'))
  const junk = path.join(dir, 'junk')
  fs.writeFileSync(junk, randomBytes(8192))
  const cases: Array<[string, string, string]> = [
    ['create', db, path.join(dir, 'missing', 'out')],
    ['open', junk, path.join(dir, 'out')],
  ]
  for (const [step, src, dest] of cases) {
    const failed = vacuumInto(src, dest)
    assert.ok(!failed.ok, step)
    assert.equal(failed.step, step)
    assert.ok(failed.error instanceof Error, step)
    assert.equal(fs.existsSync(dest), false, step)
    assert.deepEqual(sideFiles(dest), [], step)
  }
})
