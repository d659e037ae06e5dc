// `hotswap stop`: the graceful shutdown through the socket. A request in flight is answered, the
// workers drain and exit, the socket file goes; the CLI returns only once that is done (after the
// request it waited for), prints OK
// and exits 0, and the primary exits 0 right after. `stop` takes no argument.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, errorLine, fixture, isAlive, openRequest, startServe, status, versionedServers, waitExit, waitUntil } from '../support/index.js'

const { project, servers, workersOf } = versionedServers()

test('hotswap stop shuts the server down gracefully and returns once it has', async () => {
  const p = project()
  const s = await startServe({ dir: p.dir, dbs: [p.live], workers: 2, app: fixture('versioned-app.mjs') })
  servers.push(s)
  const pids = (await workersOf(s)).map((w) => w.pid)

  const extra = await cli(['stop', 'now', '--socket', s.socket], { cwd: s.dir })
  assert.equal(extra.code, 2, extra.stderr)
  assert.match(errorLine(extra.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] /)
  assert.equal(s.child.exitCode, null, 'a refused stop stops nothing')

  // In flight until the file `release` exists: the stop must wait for it.
  const held = openRequest(s.port, '/hold?file=release')
  await waitUntil('the held request to be in flight', async () => (await status(s.socket)).workers.some((w) => (w.inFlight ?? 0) > 0))
  const stopping = cli(['stop', '--socket', s.socket], { cwd: s.dir })
  await s.waitForLog(/^hotswap stop: shutting down$/)
  await s.waitForLog(/^command: stop$/)
  writeFileSync(join(s.dir, 'release'), '')
  const res = await stopping
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout.toString(), 'OK\n')
  // When it returns, the shutdown is done.
  for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} has exited`)
  assert.equal(existsSync(s.socket), false, 'the socket file is removed')
  assert.equal(await waitExit(s, 5000), 0, 'the primary exits 0')
  const done = await held.done
  assert.ok(!(done instanceof Error) && done.status === 200, `the request in flight was answered: ${String(done instanceof Error ? done.message : done.status)}`)
  assert.equal(s.logs().some((l) => l.message === 'hotswap stop: shutting down'), true)

  const none = await cli(['stop', '--socket', s.socket], { cwd: s.dir })
  assert.equal(none.code, 1)
  assert.match(errorLine(none.stderr), /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /)
})
