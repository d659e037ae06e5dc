// onPause/onResume hooks are told which databases a swap replaces, and only those databases'
// connections are closed and reopened. Served with three databases: app, cache, and joined
// (whose connection ATTACHes cache). A push to cache: the hooks get ['cache']; app's connection is
// the one it had (its TEMP table is still there, it was opened once); joined's connection is
// closed and reopened along with cache (it reads cache's file), yet its name is not in the hooks'
// list, since its own file is not replaced. A push to app then reopens app alone.

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
