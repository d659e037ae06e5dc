// A commit of several databases fsyncs each directory once, after the last rename into it, not
// once per database: the directory fsyncs are most of what a commit of three adds to the pause
// (bench section G). Served: app and cache in one folder, queue in another. The commit's
// "pause window" log line lists the install's steps: two directories fsynced, for three renames;
// every database serves its new label.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { cli, fixture, request, seed, seedAll, type Served, serveForFile, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served

serveForFile(async (dir) => {
  const paths = seedAll(dir.dir, { app: 'a0', cache: 'c0' })
  mkdirSync(join(dir.dir, 'other'))
  const queue = join(dir.dir, 'other', 'queue.sqlite3')
  seed(queue, { label: 'q0' })
  return await startServe({
    dir: dir.dir,
    dbs: [`app=${paths.app}`, `cache=${paths.cache}`, `queue=${queue}`],
    app: fixture('generations-app.mjs'),
    workers: 1,
    env: { GEN_DBS: 'app,cache,queue' },
  })
}, (s) => { ({ t, served } = s) })

async function stage (label: string, dst: string): Promise<string> {
  const src = join(t.dir, `${label}.sqlite3`)
  seed(src, { label })
  const res = await cli(['cp', src, dst, '--stage', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.stderr, '')
  assert.equal(res.code, 0)
  return res.stdout.toString().trim()
}

test('a commit of app and cache (one folder) and queue (another) fsyncs each folder once, after its last rename', async () => {
  const ids = [await stage('a1', 'app'), await stage('c1', 'cache'), await stage('q1', 'queue')]
  const res = await cli(['commit', ...ids, '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.stderr, '')
  assert.equal(res.code, 0)
  assert.equal(res.stdout.toString(), 'OK\n')

  const line = await served.waitForLog(/^pause window .* for app, cache, queue$/)
  const timings = line.timings as Record<string, number>
  assert.equal(timings.directories, 2, 'app\'s and cache\'s folder is fsynced once for both renames, queue\'s on its own')
  assert.equal(typeof timings.rename, 'number')
  assert.equal(typeof timings.fsyncDir, 'number')

  const labels = await request(served.port, '/labels')
  assert.equal(labels.status, 200, labels.body)
  assert.deepEqual(labels.json().labels, { app: 'a1', cache: 'c1', queue: 'q1' })
})
