// GenerationStore (src/primary/generations/store.ts) on real files in a temp folder: the manifest
// made or read at start-up and checked against the disk, a swap planned, saved and pruned, and a
// retired generation's size and digest recorded.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GenerationStore } from '../../../src/primary/generations/store.js'
import { folderOf, keptOf, type Manifest } from '../../../src/primary/generations/manifest.js'
import { candidate, keptLogger, labelOf, labelOfFile, servedDb, swapIn, testDir, throwsCode } from './support.js'

function manifestOnDisk (livePath: string): Manifest {
  return JSON.parse(readFileSync(join(folderOf(livePath), 'manifest.json'), 'utf8')) as Manifest
}

function folderFiles (livePath: string): string[] {
  return readdirSync(folderOf(livePath)).sort()
}

/** A store of `app` with generations 1…n+1 made by n real swaps (labels v1…vn), keeping `keep`. */
async function withSwaps (dir: string, n: number, keep: number): Promise<GenerationStore> {
  const { log } = keptLogger()
  const db = servedDb(dir, 'app', 'v0')
  const store = GenerationStore.openSync(db, keep, log)
  for (let i = 1; i <= n; i++) await swapIn(store, candidate(dir, `v${i}`), log)
  return store
}

test('the first start makes generation 1 of the file found, and writes the manifest with its inode', (t) => {
  const dir = testDir(t)
  const db = servedDb(dir, 'app', 'v0')
  const store = GenerationStore.openSync(db, 1, keptLogger().log)
  const m = manifestOnDisk(db.path)
  assert.equal(m.version, 1)
  assert.equal(m.live, 1)
  assert.equal(m.next, 2)
  assert.equal(m.database, db.path)
  assert.equal(m.liveIno, statSync(db.path).ino)
  assert.equal(m.generations.length, 1)
  assert.deepEqual({ ...m.generations[0], createdAt: '' }, {
    id: 1, createdAt: '', source: { kind: 'existing' }, bytes: statSync(db.path).size, digest: null, pauseMs: null, commit: null,
  })
  assert.deepEqual(store.manifest, m, 'what is in memory is what is on disk')
  assert.equal(store.live.id, 1)
  assert.deepEqual(folderFiles(db.path), ['manifest.json'])
  assert.equal(statSync(folderOf(db.path)).mode & 0o777, 0o700, 'the folder holds copies of the data: owner only')
})

test('a live file replaced while no server ran becomes a new generation, found at start-up', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 1, 2)
  const live = store.db.path
  assert.equal(store.live.id, 2)
  renameSync(candidate(dir, 'by-hand'), live)
  const { log, lines } = keptLogger()
  const again = GenerationStore.openSync(store.db, 2, log)
  assert.equal(again.live.id, 3)
  assert.equal(again.manifest.next, 4)
  assert.deepEqual(again.live.source, { kind: 'existing' })
  assert.equal(again.live.digest, null)
  assert.deepEqual(again.manifest.generations.map((g) => g.id), [3, 1], 'the replaced generation 2 is gone (its file was replaced); 1 is still kept')
  assert.equal(manifestOnDisk(live).liveIno, statSync(live).ino)
  assert.ok(lines.some((l) => /was replaced while no server ran: it is generation 3/.test(l)), lines.join('\n'))
  // Opened once more, nothing changed: the same file is generation 3 still.
  assert.equal(GenerationStore.openSync(store.db, 2, log).live.id, 3)
})

test('a kept file listed but missing is no longer listed', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 2, 2)
  assert.deepEqual(keptOf(store.manifest).map((g) => g.id), [2, 1])
  rmSync(store.keptPath(2))
  const { log, lines } = keptLogger()
  const again = GenerationStore.openSync(store.db, 2, log)
  assert.deepEqual(keptOf(again.manifest).map((g) => g.id), [1])
  assert.deepEqual(manifestOnDisk(store.db.path).generations.map((g) => g.id), [3, 1])
  assert.ok(lines.some((l) => /kept generation 2 of app is missing/.test(l)), lines.join('\n'))
  assert.equal(labelOfFile(again.keptPath(1)), 'v0')
})

test('an unlisted <n>.sqlite3 and a .x.tmp left by an interrupted swap are removed; other files are left', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 1, 2)
  const folder = folderOf(store.db.path)
  writeFileSync(join(folder, '7.sqlite3'), 'orphan')
  writeFileSync(join(folder, '.manifest.json.0badc0de.tmp'), '{')
  writeFileSync(join(folder, 'notes.txt'), 'mine')
  const { log, lines } = keptLogger()
  GenerationStore.openSync(store.db, 2, log)
  assert.deepEqual(folderFiles(store.db.path), ['1.sqlite3', 'manifest.json', 'notes.txt'])
  assert.equal(lines.filter((l) => /a file no manifest lists/.test(l)).length, 2, lines.join('\n'))
})

test('kept generations beyond --keep are pruned at open (keep lowered since), oldest first out', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 3, 3)
  assert.deepEqual(keptOf(store.manifest).map((g) => g.id), [3, 2, 1])
  const again = GenerationStore.openSync(store.db, 1, keptLogger().log)
  assert.deepEqual(again.manifest.generations.map((g) => g.id), [4, 3])
  assert.deepEqual(manifestOnDisk(store.db.path).generations.map((g) => g.id), [4, 3])
  assert.deepEqual(folderFiles(store.db.path), ['3.sqlite3', 'manifest.json'])
  assert.equal(labelOfFile(again.keptPath(3)), 'v2')
  const none = GenerationStore.openSync(store.db, 0, keptLogger().log)
  assert.deepEqual(none.manifest.generations.map((g) => g.id), [4])
  assert.deepEqual(folderFiles(store.db.path), ['manifest.json'])
})

test('a corrupt or foreign manifest is HOTSWAP_ERR_CONFIG, and nothing is changed', (t) => {
  const dir = testDir(t)
  const db = servedDb(dir, 'app', 'v0')
  GenerationStore.openSync(db, 1, keptLogger().log)
  const file = join(folderOf(db.path), 'manifest.json')
  for (const text of ['{"version": 1, "live": ', '{"version": 2, "live": 1, "generations": []}', '{"version": 1, "live": "1", "generations": []}', '[]']) {
    writeFileSync(file, text)
    throwsCode(() => GenerationStore.openSync(db, 1, keptLogger().log), 'HOTSWAP_ERR_CONFIG', /move .* away/)
    assert.equal(readFileSync(file, 'utf8'), text, 'the manifest is left as it was')
  }
})

test('plan: the next id goes live, the old live is kept at keepPath; an undo takes its generation off the list', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 2, 2)
  const before = structuredClone(store.manifest)
  const p = store.plan({ source: { kind: 'stdin' }, bytes: 123, digest: 'sha256:ab', commit: 'c-plan' })
  assert.equal(p.from, 3)
  assert.equal(p.generation.id, 4)
  assert.equal(p.keepPath, store.keptPath(3))
  assert.equal(p.keepPath, join(folderOf(store.db.path), '3.sqlite3'))
  assert.deepEqual({ ...p.generation, createdAt: '' }, { id: 4, createdAt: '', source: { kind: 'stdin' }, bytes: 123, digest: 'sha256:ab', pauseMs: null, commit: 'c-plan' })
  assert.equal(p.next.live, 4)
  assert.equal(p.next.next, 5)
  assert.deepEqual(p.next.generations.map((g) => g.id), [4, 3, 2, 1])
  assert.deepEqual(store.manifest, before, 'a plan changes nothing until it is saved')
  assert.deepEqual(manifestOnDisk(store.db.path), before)
  const u = store.plan({ source: { kind: 'undo', of: 2 }, bytes: 1, digest: null, commit: 'c-undo', undoOf: 2 })
  assert.deepEqual(u.next.generations.map((g) => g.id), [4, 3, 1], 'the kept generation 2 becomes the live 4')
})

test('save writes the manifest with the live inode; prune removes beyond --keep, listed first; kept() names what is kept', async (t) => {
  const dir = testDir(t)
  const { log } = keptLogger()
  const store = await withSwaps(dir, 2, 2)
  assert.deepEqual(folderFiles(store.db.path), ['1.sqlite3', '2.sqlite3', 'manifest.json'])
  assert.equal(labelOf(store.db.path), 'v2')
  assert.equal(labelOfFile(store.keptPath(2)), 'v1')
  assert.equal(labelOfFile(store.keptPath(1)), 'v0')
  assert.deepEqual(manifestOnDisk(store.db.path), store.manifest)
  assert.equal(store.manifest.liveIno, statSync(store.db.path).ino)
  // A third swap: 3 kept for --keep 2, so 1 goes.
  const plan = await swapIn(store, candidate(dir, 'v3'), log)
  assert.equal(plan.from, 3)
  assert.deepEqual(store.manifest.generations.map((g) => g.id), [4, 3, 2])
  assert.deepEqual(manifestOnDisk(store.db.path).generations.map((g) => g.id), [4, 3, 2])
  assert.deepEqual(folderFiles(store.db.path), ['2.sqlite3', '3.sqlite3', 'manifest.json'])
  assert.deepEqual(await store.prune(log), [], 'nothing more to prune')
  assert.equal(store.kept(2).id, 2)
  throwsCode(() => store.kept(4), 'HOTSWAP_ERR_UNKNOWN_GENERATION', /is the live one/)
  throwsCode(() => store.kept(1), 'HOTSWAP_ERR_UNKNOWN_GENERATION', /keeps no generation 1 \(kept: 3, 2\)/)
  // An undo to 2: its file goes live and leaves the kept list; 4 is kept in turn.
  await swapIn(store, store.keptPath(2), log, 2)
  assert.equal(labelOf(store.db.path), 'v1')
  assert.deepEqual(store.manifest.generations.map((g) => g.id), [5, 4, 3])
  assert.deepEqual(store.live.source, { kind: 'undo', of: 2 })
  assert.deepEqual(folderFiles(store.db.path), ['3.sqlite3', '4.sqlite3', 'manifest.json'])
})

test('retired records a kept generation\'s size and digest, on disk; a pruned one is left alone', async (t) => {
  const dir = testDir(t)
  const store = await withSwaps(dir, 1, 1)
  await store.retired(1, 4096, 'sha256:00ff')
  const g = store.manifest.generations.find((x) => x.id === 1)
  assert.equal(g?.bytes, 4096)
  assert.equal(g?.digest, 'sha256:00ff')
  assert.deepEqual(manifestOnDisk(store.db.path), store.manifest)
  const before = readFileSync(join(folderOf(store.db.path), 'manifest.json'), 'utf8')
  await store.retired(9, 1, 'sha256:11')
  assert.equal(readFileSync(join(folderOf(store.db.path), 'manifest.json'), 'utf8'), before, 'an id no longer listed changes nothing')
  assert.ok(existsSync(store.keptPath(1)))
})

test('a .hotswap that is not a folder is HOTSWAP_ERR_CONFIG naming it, not a raw error', (t) => {
  const dir = testDir(t)
  const db = servedDb(dir, 'app', 'v0')
  writeFileSync(join(dir, '.hotswap'), 'not a folder')
  throwsCode(() => GenerationStore.openSync(db, 1, keptLogger().log), 'HOTSWAP_ERR_CONFIG', /cannot make .*\.hotswap\/app\.sqlite3.*kept generations/)
})
