// onPause/onResume hooks are told which databases a swap replaces, and only those databases'
// connections are closed and reopened. Served with three databases: app, cache, and joined
// (whose connection ATTACHes cache). A push to cache: the hooks get ['cache']; app's connection is
// the one it had (its TEMP table is still there, it was opened once); joined's connection is
// closed and reopened along with cache (it reads cache's file), yet its name is not in the hooks'
// list, since its own file is not replaced. A push to app then reopens app alone. A commit of
// several (the stages of app and cache, the one-shot swap, an undo of both): each hook runs once
// per commit, told every name of the set.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli, fixture, request, seed, seedAll, type Served, serveForFile, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served

serveForFile(async (dir) => {
  const paths = seedAll(dir.dir, { app: 'a0', cache: 'c0', joined: 'j0' })
  return await startServe({
    dir: dir.dir,
    dbs: Object.entries(paths).map(([name, path]) => `${name}=${path}`),
    app: fixture('hooks-names-app.mjs'),
    workers: 1,
    env: { CACHE_DB_PATH: paths.cache },
  })
}, (s) => { ({ t, served } = s) })

async function state (): Promise<Record<string, unknown>> {
  const res = await request(served.port, '/state')
  assert.equal(res.status, 200, res.body)
  return res.json()
}

async function push (label: string, dst: string): Promise<void> {
  const src = join(t.dir, `${label}.sqlite3`)
  seed(src, { label })
  const res = await cli(['cp', src, dst, '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.stderr, '')
  assert.equal(res.code, 0)
  assert.equal(res.stdout.toString(), 'OK\n')
}

const told = (names: string[]): unknown[] => ['pause', 'resume'].map((hook) => ({ hook, names, isArray: true, frozen: true }))

test('a push to cache: the hooks get ["cache"], app keeps its connection, joined (cache ATTACHed) is reopened but not named', async () => {
  const before = await state()
  assert.deepEqual(before.calls, [])
  assert.deepEqual(before.opens, { app: 1, cache: 1, joined: 1 })
  assert.deepEqual(before.sameConnection, { app: true, cache: true, joined: true })

  await push('c1', 'cache')
  const after = await state()
  assert.deepEqual(after.calls, told(['cache']), 'each hook got the swapped database\'s name, and only it')
  assert.deepEqual(after.zeroArg, { pauses: 1, resumes: 1 }, 'a hook that takes no argument still runs')
  assert.deepEqual(after.labels, { app: 'a0', cache: 'c1', joinedSeesCache: 'c1' })
  assert.deepEqual(after.opens, { app: 1, cache: 2, joined: 2 }, 'app was not reopened; joined was, with cache')
  assert.deepEqual(after.sameConnection, { app: true, cache: false, joined: false }, 'app\'s TEMP table survived the swap of cache')
})

test('a push to app: the hooks get ["app"], and only app is reopened', async () => {
  await push('a1', 'app')
  const after = await state()
  assert.deepEqual((after.calls as unknown[]).slice(2), told(['app']))
  assert.deepEqual(after.zeroArg, { pauses: 2, resumes: 2 })
  assert.deepEqual(after.labels, { app: 'a1', cache: 'c1', joinedSeesCache: 'c1' })
  assert.deepEqual(after.opens, { app: 2, cache: 2, joined: 2 })
  assert.deepEqual(after.sameConnection, { app: false, cache: false, joined: false })
})

/** What /state reports, as a commit of several reads it. */
interface State {
  calls: Array<{ hook: string, names: string[] }>
  zeroArg: { pauses: number, resumes: number }
  opens: Record<string, number>
  labels: Record<string, string>
}

const stateNow = async (): Promise<State> => await state() as unknown as State

/** The real CLI; it must succeed in silence on stderr; its stdout. */
async function ok (args: string[]): Promise<string> {
  const res = await cli([...args, '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.stderr, '', args.join(' '))
  assert.equal(res.code, 0, args.join(' '))
  return res.stdout.toString()
}

function file (label: string): string {
  const path = join(t.dir, `${label}.sqlite3`)
  seed(path, { label })
  return path
}

/** Since `before`: one pause and one resume call, each told exactly `names`; app, cache and joined reopened once. */
function assertOneCommitOf (before: State, after: State, names: string[]): void {
  const calls = after.calls.slice(before.calls.length)
  assert.deepEqual(calls.map((c) => c.hook), ['pause', 'resume'], 'each hook ran once for the commit')
  for (const c of calls) assert.deepEqual([...c.names].sort(), [...names].sort(), `${c.hook} was told every database of the commit`)
  assert.deepEqual(after.zeroArg, { pauses: before.zeroArg.pauses + 1, resumes: before.zeroArg.resumes + 1 }, 'a zero-argument hook also runs once per commit')
  assert.deepEqual(after.opens, { app: (before.opens.app ?? 0) + 1, cache: (before.opens.cache ?? 0) + 1, joined: (before.opens.joined ?? 0) + 1 },
    'app and cache reopened once, joined along with cache')
}

test('a commit of the stages of app and cache: onPause and onResume each run once, told ["app", "cache"]', async () => {
  const before = await stateNow()
  for (const [name, label] of [['app', 'a3'], ['cache', 'c3']] as const) assert.match(await ok(['cp', file(label), name, '--stage']), /^[0-9a-f]{8}\n$/)
  assert.deepEqual((await stateNow()).calls, before.calls, 'staging runs no hook')
  assert.equal(await ok(['commit']), 'OK\n')
  const after = await stateNow()
  assertOneCommitOf(before, after, ['app', 'cache'])
  assert.deepEqual(after.calls.slice(before.calls.length).map((c) => c.names), [['app', 'cache'], ['app', 'cache']], 'in the order they were staged')
  assert.deepEqual(after.labels, { app: 'a3', cache: 'c3', joinedSeesCache: 'c3' })
})

test('the one-shot swap of both, then an undo of both: the hooks are told both names each time', async () => {
  const before = await stateNow()
  assert.equal(await ok(['swap', `cache=${file('c4')}`, `app=${file('a4')}`]), 'OK\n')
  const swapped = await stateNow()
  assertOneCommitOf(before, swapped, ['app', 'cache'])
  assert.deepEqual(swapped.labels, { app: 'a4', cache: 'c4', joinedSeesCache: 'c4' })

  assert.equal(await ok(['undo']), 'OK\n')
  const undone = await stateNow()
  assertOneCommitOf(swapped, undone, ['app', 'cache'])
  assert.deepEqual(undone.labels, { app: 'a3', cache: 'c3', joinedSeesCache: 'c3' })
})
