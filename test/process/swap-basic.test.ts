import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, labelOf, leftovers, push, pushable, request, seed, type Served, serveLiveForFile, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

test('push swaps the live database under every worker and prints OK', async () => {
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v2' })
  assert.equal((await request(served.port, '/label')).json().label, 'v1')
  const res = await cli(['cp', next, 'live.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.stderr, '')
  assert.equal(res.code, 0)
  assert.equal(res.stdout.toString(), 'OK\n')
  // Every worker serves the new file: ask enough times to reach both.
  const pids = new Set<unknown>()
  for (let i = 0; i < 20; i++) {
    const body = (await request(served.port, '/label', { keepAlive: false })).json()
    assert.equal(body.label, 'v2')
    pids.add(body.pid)
  }
  assert.equal(labelOf(live), 'v2')
  await served.waitForLog(/pause window/)
  const left = leftovers(t.dir)
  assert.deepEqual(left, [])
})

test('push from stdin by name, pull to stdout and to a file', async () => {
  const third = join(t.dir, 'third.sqlite3')
  seed(third, { label: 'v3' })
  const pushed = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: t.dir, input: readFileSync(third) })
  assert.equal(pushed.code, 0, pushed.stderr)
  assert.equal(pushed.stdout.toString(), 'OK\n')
  assert.equal((await request(served.port, '/label')).json().label, 'v3')

  const pulled = await cli(['cp', 'live', '-', '--socket', served.socket], { cwd: t.dir })
  assert.equal(pulled.code, 0, pulled.stderr)
  const copy = join(t.dir, 'copy.sqlite3')
  writeFileSync(copy, pulled.stdout)
  assert.equal(labelOf(copy), 'v3')

  const toFile = await cli(['cp', live, 'backup.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(toFile.code, 0, toFile.stderr)
  assert.equal(labelOf(join(t.dir, 'backup.sqlite3')), 'v3')
})

test('once a push is answered OK nothing of the swap is left beside the database: the old file is unlinked before the reply', async () => {
  // Looked at the moment the reply arrives, push after push: the old file's link was removed
  // after the reply before, and a folder listed right after OK still held `.live.sqlite3.hotswap-old-…`.
  const seen: string[] = []
  for (let i = 0; i < 30; i++) {
    const next = pushable(t.dir, `burst-${i}`, 20_000)
    const r = await push(served.socket, next.bytes)
    seen.push(...leftovers(t.dir))
    assert.equal(r.control?.exit, 0, r.stderr)
  }
  assert.deepEqual(seen, [])
  assert.equal(labelOf(live), 'burst-29')
})
