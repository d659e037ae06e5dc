// Pulls while other workers keep writing: every snapshot is whole (integrity_check), carries
// the live label, and holds at least every row committed before the pull started; the writers
// never fail or wait long enough to time out (DESIGN.md, "Pull"). A push under the same writes
// loses no request either.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, inspect, load, request, seed, type Served, serveLiveForFile, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

// Enough rows that a snapshot takes a moment while the writers commit.
serveLiveForFile({ workers: 2, label: 'v1', rows: 20_000 }, (s) => { ({ t, served, live } = s) })

/** The pulled file as SQLite sees it, and its journal mode. */
function inspectPulled (path: string): { integrity: string[], label: string, count: number, journal: string } {
  return inspect(path, (db) => ({ journal: String(db.pragma('journal_mode', { simple: true })) }))
}

/** The row count the server reports right now, through a write of its own. */
async function committedCount (): Promise<{ label: string, count: number }> {
  const res = await request(served.port, '/write', { keepAlive: false })
  assert.equal(res.status, 200, res.body)
  const body = res.json()
  return { label: String(body.label), count: Number(body.count) }
}

function checkWrite (path: string, body: Record<string, unknown>): string | null {
  if (typeof body.label !== 'string') return `no label in ${JSON.stringify(body)}`
  if (!path.startsWith('/write')) return null
  return typeof body.count === 'number' && body.count > 0 ? null : `bad write reply ${JSON.stringify(body)}`
}

test('pulls to stdout and to a file while writes run: whole, labelled, never behind', async (tt) => {
  const writes = load(served.port, { paths: ['/write', '/write?n=5', '/label'], concurrency: 8, maxMs: 60_000, check: checkWrite })
  const sizes: number[] = []
  try {
    for (let i = 0; i < 6; i++) {
      const before = await committedCount()
      let pulled: string
      if (i % 2 === 0) {
        const res = await cli(['cp', 'live', '-', '--socket', served.socket], { cwd: t.dir })
        assert.equal(res.code, 0, res.stderr)
        assert.equal(res.stderr, '')
        pulled = join(t.dir, `stdout-${i}.sqlite3`)
        writeFileSync(pulled, res.stdout)
      } else {
        pulled = join(t.dir, `file-${i}.sqlite3`)
        const res = await cli(['cp', live, pulled, '--socket', served.socket], { cwd: t.dir })
        assert.equal(res.code, 0, res.stderr)
        assert.equal(res.stdout.toString(), 'OK\n')
        assert.equal(res.stderr, '')
      }
      // Nothing binary ever reaches stdout except database bytes during a pull.
      assert.equal(readFileSync(pulled).subarray(0, 16).toString('latin1'), 'SQLite format 3\0')
      const got = inspectPulled(pulled)
      assert.deepEqual(got.integrity, ['ok'], `pull ${i} integrity`)
      assert.equal(got.label, 'v1')
      assert.ok(got.count >= before.count, `pull ${i} has ${got.count} rows, fewer than the ${before.count} committed before it started`)
      sizes.push(got.count)
    }
  } finally {
    await writes.stop()
  }
  assert.equal(writes.stats.failed, 0, writes.stats.errors.join('; '))
  assert.equal(writes.stats.bad, 0, writes.stats.badBodies.join('; '))
  assert.ok(writes.stats.ok > 0)
  // The writers kept going between pulls: later snapshots hold more rows.
  assert.ok((sizes.at(-1) as number) > (sizes[0] as number), `snapshots grew: ${sizes.join(', ')}`)
  tt.diagnostic(`${writes.stats.ok} requests during 6 pulls; snapshot row counts ${sizes.join(', ')}`)
})

test('a push while writes run: no write fails, and writes then land on the new file', async () => {
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v2', rows: 50 })
  const writes = load(served.port, { paths: ['/write', '/write?n=3'], concurrency: 8, maxMs: 60_000, check: checkWrite })
  let res
  try {
    await new Promise((resolve) => setTimeout(resolve, 300))
    res = await cli(['cp', next, 'live', '--socket', served.socket], { cwd: t.dir })
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    await writes.stop()
  }
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(writes.stats.failed, 0, writes.stats.errors.join('; '))
  assert.equal(writes.stats.bad, 0, writes.stats.badBodies.join('; '))

  const after = await committedCount()
  assert.equal(after.label, 'v2')
  assert.ok(after.count > 50, `writes after the push landed on the new file (${after.count} rows)`)
  assert.ok(after.count < 20_000, `the new file does not hold the old rows (${after.count} rows)`)

  // A pull after the push is the new file plus the writes made since.
  const res2 = await cli(['cp', 'live', '-', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res2.code, 0, res2.stderr)
  const pulled = join(t.dir, 'after-push.sqlite3')
  writeFileSync(pulled, res2.stdout)
  const got = inspectPulled(pulled)
  assert.deepEqual(got.integrity, ['ok'])
  assert.equal(got.label, 'v2')
  assert.ok(got.count >= after.count)
})
