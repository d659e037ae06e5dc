// recoverSync (src/primary/generations/intent.ts) on hand-made intent records over real files:
// a commit of two databases cut short before any rename is rolled back, one cut short after a
// rename is finished; an intent naming a database this server does not serve stops the start,
// and an unreadable one (never complete) is removed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, linkSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { recoverSync, writeIntent, type Intent } from '../../../src/primary/generations/intent.js'
import { folderOf, type Manifest } from '../../../src/primary/generations/manifest.js'
import { Stages } from '../../../src/primary/generations/stages.js'
import { GenerationStore } from '../../../src/primary/generations/store.js'
import { install } from '../../../src/primary/sqlite/install.js'
import { candidate, keptLogger, labelOf, labelOfFile, servedDb, testDir, throwsCode } from './support.js'

interface Setup {
  stores: GenerationStore[]
  intent: Intent
}

/**
 * app and cache served (generation 1 each), a commit of both planned: app's new file is a stage
 * (with its record), cache's an upload beside the live file. The intent is written to both folders.
 */
async function commitOfTwo (dir: string): Promise<Setup> {
  const { log } = keptLogger()
  const stores = ['app', 'cache'].map((name) => GenerationStore.openSync(servedDb(dir, name, `${name}-old`), 2, log))
  const [app, cache] = stores as [GenerationStore, GenerationStore]
  const stages = new Stages(new Map(stores.map((s) => [s.db.name, s])), 3_600_000, log)
  const staged = candidate(dir, 'app-new')
  const rec = await stages.add('app', staged, { source: { kind: 'file', path: staged }, bytes: statSync(staged).size, digest: 'sha256:00' })
  const upload = candidate(dir, 'cache-new')
  const commit = 'c0ffee00c0de'
  const items = [
    { store: app, newPath: stages.pathOf(rec), stageRecord: join(app.dir, `stage-${rec.id}.json`) },
    { store: cache, newPath: upload, stageRecord: null },
  ].map(({ store, newPath, stageRecord }) => {
    const plan = store.plan({ source: { kind: 'file', path: newPath }, bytes: statSync(newPath).size, digest: null, commit })
    return {
      db: store.db.name, livePath: store.db.path, newPath, newIno: statSync(newPath).ino, oldIno: statSync(store.db.path).ino,
      keepPath: plan.keepPath, manifest: plan.next, stageRecord,
    }
  })
  const intent: Intent = { version: 1, id: commit, kind: 'commit', createdAt: new Date().toISOString(), items }
  await writeIntent(intent)
  return { stores, intent }
}

const intentFile = (livePath: string, id: string): string => join(folderOf(livePath), `intent-${id}.json`)
const manifestOnDisk = (livePath: string): Manifest => JSON.parse(readFileSync(join(folderOf(livePath), 'manifest.json'), 'utf8')) as Manifest

/** What the pause does to one item: the old file linked as kept, the new one renamed over it. */
function renameOne (item: Intent['items'][number]): void {
  const r = install({ tempPath: item.newPath, livePath: item.livePath, force: false, busyTimeoutMs: 1000, keepPath: item.keepPath })
  assert.ok(r.ok && r.value.kept)
}

test('no item renamed: rolled back, every database on its old file, the intent gone, the stray link removed at open', async (t) => {
  const dir = testDir(t)
  const { stores, intent } = await commitOfTwo(dir)
  const [app, cache] = stores as [GenerationStore, GenerationStore]
  // The pause had linked app's old file aside, but not renamed yet.
  linkSync(app.db.path, intent.items[0]?.keepPath as string)
  const manifests = stores.map((s) => manifestOnDisk(s.db.path))
  const { log, lines } = keptLogger()
  const done = recoverSync(stores.map((s) => s.db), log)
  assert.equal(done.length, 1)
  assert.match(done[0] as string, /commit c0ffee00c0de of app, cache was rolled back: no file had been renamed/)
  assert.ok(lines.some((l) => /rolled back/.test(l)))
  for (const s of stores) assert.equal(existsSync(intentFile(s.db.path, intent.id)), false, `intent removed from ${s.db.name}'s folder`)
  assert.equal(labelOf(app.db.path), 'app-old')
  assert.equal(labelOf(cache.db.path), 'cache-old')
  assert.deepEqual(stores.map((s) => manifestOnDisk(s.db.path)), manifests, 'no manifest written')
  assert.equal(labelOfFile(intent.items[0]?.newPath as string), 'app-new', 'the stage is still there, to commit again')
  assert.ok(existsSync(intent.items[0]?.stageRecord as string))
  const reopened = GenerationStore.openSync(app.db, 2, log)
  assert.equal(reopened.live.id, 1)
  assert.deepEqual(readdirSync(app.dir).filter((n) => /^\d+\.sqlite3$/.test(n)), [], 'the unlisted link is removed')
  assert.deepEqual(recoverSync(stores.map((s) => s.db), log), [], 'nothing left to recover')
})

test('one of two renamed: finished forward, the other installed with its old file kept, manifests written, stage record removed', async (t) => {
  const dir = testDir(t)
  const { stores, intent } = await commitOfTwo(dir)
  const [app, cache] = stores as [GenerationStore, GenerationStore]
  renameOne(intent.items[0] as Intent['items'][number])
  const { log } = keptLogger()
  const done = recoverSync(stores.map((s) => s.db), log)
  assert.match(done[0] as string, /commit c0ffee00c0de of app, cache was finished: 1 of 2 file\(s\) had been renamed/)
  assert.equal(labelOf(app.db.path), 'app-new')
  assert.equal(labelOf(cache.db.path), 'cache-new')
  for (const [i, s] of stores.entries()) {
    const item = intent.items[i] as Intent['items'][number]
    assert.equal(labelOfFile(item.keepPath), `${s.db.name}-old`, `${s.db.name}'s old file is kept as generation 1`)
    assert.deepEqual(manifestOnDisk(s.db.path), { ...item.manifest, liveIno: item.newIno })
    assert.equal(statSync(s.db.path).ino, item.newIno)
    assert.equal(existsSync(intentFile(s.db.path, intent.id)), false)
  }
  assert.equal(existsSync(intent.items[0]?.stageRecord as string), false, 'the committed stage\'s record is removed')
  assert.equal(existsSync(join(dir, 'src-cache-new.sqlite3')), false, 'the upload was renamed in')
  // The next open finds everything consistent: generation 2 live, 1 kept, nothing replaced.
  const { log: log2, lines } = keptLogger()
  for (const s of [app, cache]) {
    const again = GenerationStore.openSync(s.db, 2, log2)
    assert.equal(again.live.id, 2)
    assert.deepEqual(again.manifest.generations.map((g) => g.id), [2, 1])
  }
  assert.deepEqual(lines.filter((l) => /replaced|missing|removed/.test(l)), [])
  const stages = new Stages(new Map([[app.db.name, app], [cache.db.name, cache]]), 3_600_000, log2)
  stages.loadSync()
  assert.deepEqual(stages.all(), [], 'no stage is left')
  assert.deepEqual(readdirSync(app.dir).sort(), ['1.sqlite3', 'manifest.json'])
})

test('every item renamed: finished forward, nothing to install, manifests written', async (t) => {
  const dir = testDir(t)
  const { stores, intent } = await commitOfTwo(dir)
  for (const item of intent.items) renameOne(item)
  const done = recoverSync(stores.map((s) => s.db), keptLogger().log)
  assert.match(done[0] as string, /finished: 2 of 2/)
  for (const [i, s] of stores.entries()) {
    assert.equal(manifestOnDisk(s.db.path).live, 2)
    assert.equal(labelOf(s.db.path), `${s.db.name}-new`)
    assert.equal(labelOfFile(intent.items[i]?.keepPath as string), `${s.db.name}-old`)
  }
})

test('an intent that names a database this server does not serve is HOTSWAP_ERR_CONFIG, and nothing is changed', async (t) => {
  const dir = testDir(t)
  const { stores, intent } = await commitOfTwo(dir)
  renameOne(intent.items[0] as Intent['items'][number])
  const [app, cache] = stores as [GenerationStore, GenerationStore]
  throwsCode(() => recoverSync([app.db], keptLogger().log), 'HOTSWAP_ERR_CONFIG', new RegExp(`also changed ${cache.db.path}.*start serve with every database`))
  assert.ok(existsSync(intentFile(app.db.path, intent.id)))
  assert.ok(existsSync(intentFile(cache.db.path, intent.id)))
  assert.equal(labelOf(cache.db.path), 'cache-old')
  assert.equal(manifestOnDisk(app.db.path).live, 1)
  // Served with both, it finishes.
  recoverSync(stores.map((s) => s.db), keptLogger().log)
  assert.equal(labelOf(cache.db.path), 'cache-new')
})

test('renamed in part, but the other\'s new file is gone: HOTSWAP_ERR_CONFIG (mixed, restore by hand)', async (t) => {
  const dir = testDir(t)
  const { stores, intent } = await commitOfTwo(dir)
  renameOne(intent.items[0] as Intent['items'][number])
  rmSync(intent.items[1]?.newPath as string)
  throwsCode(() => recoverSync(stores.map((s) => s.db), keptLogger().log), 'HOTSWAP_ERR_CONFIG', /no longer the file to install/)
})

test('an unreadable intent record (never complete: no rename followed it) is removed', (t) => {
  const dir = testDir(t)
  const { log } = keptLogger()
  const store = GenerationStore.openSync(servedDb(dir, 'app', 'v0'), 2, log)
  const file = intentFile(store.db.path, '0123abcd')
  writeFileSync(file, '{"version": 1, "id": "0123')
  writeFileSync(join(store.dir, 'intent-notes.txt'), 'left alone')
  assert.deepEqual(recoverSync([store.db], log), [])
  assert.equal(existsSync(file), false)
  assert.ok(existsSync(join(store.dir, 'intent-notes.txt')))
  assert.equal(labelOf(store.db.path), 'v0')
  // A database whose folder does not exist yet (never served) is fine.
  assert.deepEqual(recoverSync([{ name: 'fresh', path: join(dir, 'fresh.sqlite3') }], log), [])
})
