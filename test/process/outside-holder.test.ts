// An outside process (test/fixtures/outsider.mjs, its own better-sqlite3 connection) holds the
// live WAL database while a push comes in, under HTTP load: idle (opened, one query done),
// mid-read (BEGIN; SELECT), mid-write (BEGIN IMMEDIATE; INSERT, not committed), and opened but
// never queried. Without --force the push is refused with HOTSWAP_ERR_DB_BUSY naming the process
// (in the gem's words, and in one coded line from the real CLI); with --force it is swapped, and
// the outside process keeps the old file: it reads the old data, and what it commits afterwards
// goes to the old file's (unlinked) WAL and is lost, never into the new database.
//
// The one exception is shown in the opened-never-queried test: a connection that had opened the
// file but never queried it has no -wal open yet; after a forced swap its first query opens the
// *new* -wal by name while its database descriptor is the old file, and its writes then reach the
// live database through that shared WAL. --force cannot make that safe; stop such a process first.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { checkAfterFault, cli, type CliResult, fixture, integrity, labelOf, labels, leftovers, Outsider, push, pushable, pushOk, report, seed, type Served, serveLiveForFile, tempDir, TrackedLoad } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let n = 0
const outsiders: Outsider[] = []

after(async () => {
  for (const o of outsiders) await o.kill()
})

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs') }, (s) => { ({ t, served, live } = s) })

const candidate = (): { bytes: Buffer, label: string } => pushable(t.dir, `push-${++n}`, 500)

/** The live file's meta rows, read directly (no row the outsider wrote may be there). */
function metaKeys (): string[] {
  const db = new Database(live, { readonly: true })
  try {
    return db.prepare('SELECT key FROM meta ORDER BY key').pluck().all() as string[]
  } finally {
    db.close()
  }
}

const modes: Array<{ name: string, setup: string[], ends: string }> = [
  { name: 'idle (opened, one query done)', setup: ['open', 'query'], ends: 'query' },
  { name: 'mid-read (BEGIN; SELECT)', setup: ['open', 'begin-read'], ends: 'commit' },
  { name: 'mid-write (BEGIN IMMEDIATE; INSERT, uncommitted)', setup: ['open', 'begin-write'], ends: 'commit' },
]

for (const mode of modes) {
  test(`an outside process ${mode.name}: refused naming it; --force swaps and its later writes are lost`, async (tt) => {
    const old = labelOf(live)
    const c = candidate()
    const o = new Outsider(live)
    outsiders.push(o)
    await o.ready()
    for (const cmd of mode.setup) assert.equal((await o.run(cmd)).ok, true, cmd)

    const load = new TrackedLoad(served.port)
    let refused, forced
    try {
      refused = await push(served.socket, c.bytes)
      forced = await push(served.socket, c.bytes, ['--force'])
    } finally {
      await load.stop()
    }
    assert.equal(refused.control?.exit, 1)
    assert.equal(refused.control?.code, 'HOTSWAP_ERR_DB_BUSY')
    // In the gem's words (this client sends no protocol): it said it was swapping, then why not.
    assert.match(refused.stderr, new RegExp(`^Swapping database\\.\\.\\.\\nERROR: another process has .*pid ${o.pid} \\(.*outsider\\.mjs`), 'names the process and its command line')
    assert.match(refused.stderr, /--force/)
    assert.equal(forced.control?.exit, 0, forced.stderr)
    assert.equal(labelOf(live), c.label, '--force swapped')

    // The outside process still sees the old file; its commit and a later write succeed there...
    const view = await o.run('label')
    assert.equal(view.label, old, 'the outside process reads the old data')
    const end = await o.run(mode.ends)
    assert.equal(end.ok, true, `${mode.ends}: ${end.error ?? ''}`)
    const wrote = await o.run('write')
    assert.equal(wrote.ok, true, wrote.error)
    // ... and none of it reaches the live database, which stays whole.
    assert.equal(labelOf(live), c.label)
    assert.ok(!metaKeys().includes('outsider'), 'the outside write did not reach the live file')
    assert.deepEqual(integrity(live), ['ok'])
    await o.run('close')
    await o.kill()
    const { label, tempLeft } = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [c.label] })
    assert.equal(label, c.label)
    assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
    assert.deepEqual(load.bad, [])
    tt.diagnostic(`${mode.name}: refused naming pid ${o.pid}; --force swapped; outside view afterwards: "${String(view.label)}" (old); its ${mode.ends} and write succeeded and were lost; load ${load.summary()}`)
    report(tt, 'outside holder', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
  })
}

test('an outside process that opened the file but never queried it: refused; with --force its later writes reach the new file (the hazard --force cannot cover)', async (tt) => {
  const old = labelOf(live)
  const c = candidate()
  const o = new Outsider(live)
  outsiders.push(o)
  await o.ready()
  assert.equal((await o.run('open')).ok, true)
  // Only the /proc fd scan sees this one: it holds no lock and no -wal yet.
  const refused = await push(served.socket, c.bytes)
  assert.equal(refused.control?.code, 'HOTSWAP_ERR_DB_BUSY')
  assert.match(refused.stderr, new RegExp(`pid ${o.pid}\\b`))
  assert.equal(labelOf(live), old)

  const forced = await push(served.socket, c.bytes, ['--force'])
  assert.equal(forced.control?.exit, 0, forced.stderr)
  assert.equal(labelOf(live), c.label)
  // Its first query reads the old file's pages (its descriptor) through the new -wal.
  assert.equal((await o.run('query')).label, old)
  // Its write commits old-file pages into the live database's WAL: the live database now reads
  // the old label from the page the outsider rewrote. integrity_check still passes (whole
  // pages), which is what makes it dangerous.
  assert.equal((await o.run('write')).ok, true)
  const after = labelOf(live)
  await o.run('close')
  await o.kill()
  tt.diagnostic(`opened, never queried: refused naming pid ${o.pid}; after --force and one outside write the live label reads "${after}" (pushed "${c.label}", old "${old}"); outsider row in live: ${metaKeys().includes('outsider')}`)
  assert.equal(after, old, 'the outside write replaced the new meta page with the old one')
  assert.ok(metaKeys().includes('outsider'), 'the outside write is in the live database')

  // Put a clean database back for whatever runs next.
  const clean = candidate()
  const restored = await push(served.socket, clean.bytes)
  assert.equal(restored.control?.exit, 0, restored.stderr)
  assert.equal(labelOf(live), clean.label)
})

test('through the real CLI: an idle outside process refuses the push in one coded line naming it and --force; `cp --force` prints OK; without it, a plain push works again', async () => {
  const before = labelOf(live)
  const o = new Outsider(live)
  outsiders.push(o)
  await o.ready()
  for (const cmd of ['open', 'query']) assert.equal((await o.run(cmd)).ok, true, cmd)
  const src = join(t.dir, 'busy.sqlite3')
  seed(src, { label: 'forced' })
  const cp = async (args: string[]): Promise<CliResult> => await cli(['cp', src, 'live.sqlite3', ...args, '--socket', served.socket], { cwd: t.dir })
  const res = await cp([])
  assert.equal(res.code, 1, res.stderr)
  assert.match(res.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_DB_BUSY\] /)
  assert.match(res.stderr, new RegExp(`pid ${String(o.pid)}\\b`), `names the outside pid; stderr:\n${res.stderr}`)
  assert.match(res.stderr, /--force/)
  assert.deepEqual(await labels(served.port), [before, before, before, before])
  assert.equal(labelOf(live), before)
  assert.deepEqual(leftovers(t.dir), [])

  const forced = await cp(['--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(forced.stdout.toString(), 'OK\n')
  assert.deepEqual(await labels(served.port), ['forced', 'forced', 'forced', 'forced'])
  assert.equal(labelOf(live), 'forced')
  await o.kill()
  // Without the outsider, a plain push goes through again.
  await pushOk(served, 'after-outsider')
})
