// Stages (src/primary/generations/stages.ts) on real files: a validated file kept as a stage with
// its record, one per database, taken by a commit only while fresh and checked against the live
// generation, dropped, and found again (or cleaned up) at the next start.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GenerationStore } from '../../../src/primary/generations/store.js'
import { Stages, type StageRecord } from '../../../src/primary/generations/stages.js'
import { sleep, waitUntil } from '../../support/index.js'
import { candidate, keptLogger, labelOfFile, servedDb, swapIn, testDir, throwsCode } from './support.js'

const HOUR = 3_600_000

function setUp (dir: string, ttlMs = HOUR): { stores: Map<string, GenerationStore>, stages: Stages, lines: string[] } {
  const { log, lines } = keptLogger()
  const stores = new Map<string, GenerationStore>()
  for (const name of ['app', 'cache']) stores.set(name, GenerationStore.openSync(servedDb(dir, name, `${name}-v0`), 2, log))
  return { stores, stages: new Stages(stores, ttlMs, log), lines }
}

async function stage (stages: Stages, dir: string, db: string, label: string): Promise<StageRecord> {
  const file = candidate(dir, label)
  return await stages.add(db, file, { source: { kind: 'file', path: file }, bytes: readFileSync(file).length, digest: `sha256:${label}` })
}

function stageFiles (store: GenerationStore): string[] {
  return readdirSync(store.dir).filter((n) => n.startsWith('stage-')).sort()
}

test('add keeps the file and its record in the database\'s folder, checked against the live generation', async (t) => {
  const dir = testDir(t)
  const { stores, stages } = setUp(dir)
  const before = Date.now()
  const rec = await stage(stages, dir, 'app', 'new')
  const app = stores.get('app') as GenerationStore
  assert.match(rec.id, /^[0-9a-f]{8}$/)
  assert.equal(rec.db, 'app')
  assert.equal(rec.checkedAgainst, 1)
  assert.ok(rec.createdAt >= before && rec.expiresAt === rec.createdAt + HOUR)
  assert.deepEqual(stageFiles(app), [`stage-${rec.id}.json`, `stage-${rec.id}.sqlite3`])
  assert.equal(stages.pathOf(rec), join(app.dir, `stage-${rec.id}.sqlite3`))
  assert.equal(labelOfFile(stages.pathOf(rec)), 'new')
  assert.equal(existsSync(join(dir, 'src-new.sqlite3')), false, 'renamed there, not copied')
  assert.deepEqual(JSON.parse(readFileSync(join(app.dir, `stage-${rec.id}.json`), 'utf8')), rec)
  assert.deepEqual(stages.all(), [rec])
  assert.equal(stages.forDatabase('app'), rec)
  assert.equal(stages.forDatabase('cache'), undefined)
})

test('one stage per database: a second is HOTSWAP_ERR_ALREADY_STAGED until the first is dropped; another database may stage', async (t) => {
  const dir = testDir(t)
  const { stores, stages } = setUp(dir)
  const first = await stage(stages, dir, 'app', 'one')
  throwsCode(() => stages.checkFree('app'), 'HOTSWAP_ERR_ALREADY_STAGED', new RegExp(`already has stage ${first.id}`))
  await assert.rejects(stage(stages, dir, 'app', 'two'), { code: 'HOTSWAP_ERR_ALREADY_STAGED' })
  assert.equal(existsSync(join(dir, 'src-two.sqlite3')), true, 'the refused file is not taken')
  const other = await stage(stages, dir, 'cache', 'three')
  assert.deepEqual(stages.all().map((s) => s.id), [first.id, other.id])
  await stages.drop(first, 'aborted')
  assert.deepEqual(stageFiles(stores.get('app') as GenerationStore), [], 'record and file removed')
  stages.checkFree('app')
  await stage(stages, dir, 'app', 'four')
})

test('take: all or the named, refusing nothing staged, an unknown id, a name given twice and a stale stage', async (t) => {
  const dir = testDir(t)
  const { stores, stages } = setUp(dir)
  throwsCode(() => stages.take([]), 'HOTSWAP_ERR_UNKNOWN_STAGE', /nothing is staged/)
  const a = await stage(stages, dir, 'app', 'a1')
  const c = await stage(stages, dir, 'cache', 'c1')
  assert.deepEqual(stages.take([]), [a, c])
  assert.deepEqual(stages.take([c.id]), [c])
  throwsCode(() => stages.take(['0000beef']), 'HOTSWAP_ERR_UNKNOWN_STAGE', new RegExp(`staged: ${a.id} \\(app\\), ${c.id} \\(cache\\)`))
  throwsCode(() => stages.take([a.id, a.id]), 'HOTSWAP_ERR_USAGE', /named twice/)
  // app swapped meanwhile: its stage was checked against generation 1, 2 is live.
  const { log } = keptLogger()
  await swapIn(stores.get('app') as GenerationStore, candidate(dir, 'pushed'), log)
  throwsCode(() => stages.take([]), 'HOTSWAP_ERR_STAGE_STALE', new RegExp(`stage ${a.id} of app was checked against generation 1, but generation 2 is live`))
  throwsCode(() => stages.take([a.id]), 'HOTSWAP_ERR_STAGE_STALE')
  assert.deepEqual(stages.take([c.id]), [c], 'the other database\'s stage is still fine')
  assert.equal(stages.all().length, 2, 'take removes nothing')
})

test('take of an expired stage is HOTSWAP_ERR_STAGE_EXPIRED and the stage is dropped', async (t) => {
  const dir = testDir(t)
  const { stores, stages } = setUp(dir, 1)
  const rec = await stage(stages, dir, 'app', 'short')
  await sleep(5)
  throwsCode(() => stages.take([rec.id]), 'HOTSWAP_ERR_STAGE_EXPIRED', /expired/)
  throwsCode(() => stages.take([rec.id]), 'HOTSWAP_ERR_STAGE_EXPIRED', undefined)
  throwsCode(() => stages.take([]), 'HOTSWAP_ERR_UNKNOWN_STAGE')
  assert.deepEqual(stages.all(), [])
  await waitUntil('the expired stage\'s files removed', () => stageFiles(stores.get('app') as GenerationStore).length === 0)
})

test('drop removes the record, then the file; consumed forgets a stage whose file was renamed in', async (t) => {
  const dir = testDir(t)
  const { stores, stages } = setUp(dir)
  const a = await stage(stages, dir, 'app', 'a')
  const c = await stage(stages, dir, 'cache', 'c')
  await stages.drop(a, 'aborted')
  assert.deepEqual(stageFiles(stores.get('app') as GenerationStore), [])
  throwsCode(() => stages.get(a.id), 'HOTSWAP_ERR_UNKNOWN_STAGE')
  const cache = stores.get('cache') as GenerationStore
  rmSync(stages.pathOf(c)) // what a commit's rename does to the file
  await stages.consumed(c)
  assert.deepEqual(stageFiles(cache), [])
  assert.deepEqual(stages.all(), [])
})

test('loadSync keeps a fresh stage and drops the expired, the record without its file and the file without its record', async (t) => {
  const dir = testDir(t)
  const first = setUp(dir)
  const kept = await stage(first.stages, dir, 'app', 'fresh')
  const old = await stage(first.stages, dir, 'cache', 'old')
  const app = first.stores.get('app') as GenerationStore
  const cache = first.stores.get('cache') as GenerationStore
  // The cache's stage expired while no server ran.
  writeFileSync(join(cache.dir, `stage-${old.id}.json`), JSON.stringify({ ...old, expiresAt: Date.now() - 1 }))
  // A record whose file is gone, and a file nobody recorded (a crash between the two writes).
  writeFileSync(join(app.dir, 'stage-0000aaaa.json'), JSON.stringify({ ...kept, id: '0000aaaa' }))
  writeFileSync(join(app.dir, 'stage-0000bbbb.sqlite3'), 'half')
  // An unreadable record, with its file.
  writeFileSync(join(cache.dir, 'stage-0000cccc.json'), '{"id": ')
  writeFileSync(join(cache.dir, 'stage-0000cccc.sqlite3'), 'x')

  const { log, lines } = keptLogger()
  const stores = new Map([['app', GenerationStore.openSync(app.db, 2, log)], ['cache', GenerationStore.openSync(cache.db, 2, log)]])
  const stages = new Stages(stores, HOUR, log)
  stages.loadSync()
  assert.deepEqual(stages.all(), [kept])
  assert.deepEqual(stageFiles(app), [`stage-${kept.id}.json`, `stage-${kept.id}.sqlite3`])
  assert.deepEqual(stageFiles(cache), [])
  assert.equal(labelOfFile(stages.pathOf(kept)), 'fresh')
  const text = lines.join('\n')
  assert.match(text, new RegExp(`dropped stage ${old.id} of cache: it expired`))
  assert.match(text, /dropped stage 0000aaaa of app: its file is missing/)
  assert.match(text, /stage-0000bbbb\.sqlite3: a staged file with no record/)
  assert.match(text, /dropped stage 0000cccc of cache: its record is unreadable/)
  // The loaded stage holds its database; the dropped ones free theirs.
  throwsCode(() => stages.checkFree('app'), 'HOTSWAP_ERR_ALREADY_STAGED')
  stages.checkFree('cache')
})
