// An iterator left unfinished on a
// connection that has the database being swapped ATTACHed. The pause ends such iterators on the
// swapped database's own connection, but the connection attaching it was asked what it has
// attached while the iterator kept it busy: it was left open on the old file, and the fd scan
// refused every push of the attached database as "a connection of its own" until a restart.
// Now it is closed along (its iterator ended) and reopened on the new file.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli, fixture, labelOf, report, request, seed, seedAll, type Served, serveForFile, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let app: string
let cache: string

serveForFile(async (t) => {
  ;({ app, cache } = seedAll(t.dir, { app: 'app0', cache: 'cache0' }))
  return await startServe({ dir: t.dir, dbs: [app, cache], workers: 1, app: fixture('attach-iterator-app.mjs') })
}, (s) => { ({ t, served } = s) })

test('an iterator left unfinished on the connection that ATTACHes the swapped database: the push goes through, that connection reads the new file', async (tt) => {
  const r = await request(served.port, '/abandon')
  assert.equal(r.status, 200, r.body)
  const candidate = join(t.dir, 'cache1.sqlite3')
  seed(candidate, { label: 'cache1' })
  const res = await cli(['cp', candidate, 'cache', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  assert.equal(labelOf(cache), 'cache1')
  const after = await request(served.port, '/attached/label')
  assert.equal(after.status, 200, after.body)
  assert.equal(after.json().label, 'cache1', 'the attaching connection reads the new file')
  assert.equal(labelOf(app), 'app0')
  report(tt, 'iterator left unfinished on an attaching connection', { faults: 1, survived: 1, lost: 0, tempLeft: 0 })
})
