// serve --watch (development): a change to a source file under the app's directory reloads the
// workers (debounced); what the server and the app write there does not: the database's writes
// (its -wal and -shm), a swap (its upload beside the database, .hotswap/, the lock), the socket.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, errorLine, fixture, freePort, pushable, request, seed, type Served, serveToExit, sleep, startServeArgs, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let elsewhere: ReturnType<typeof tempDir>
let served: Served | undefined
let port: number

before(async () => {
  t = tempDir()
  elsewhere = tempDir()
  seed(join(t.dir, 'live.sqlite3'), { label: 'v0' })
  // The app lives in the test's folder, beside its database, as in a project under development.
  writeFileSync(join(t.dir, 'lib.mjs'), 'export const version = 1\n')
  writeFileSync(join(t.dir, 'app.mjs'), `import './lib.mjs'\nimport ${JSON.stringify(fixture('argv-app.mjs'))}\n`)
  port = await freePort()
  const socket = join(t.dir, 'tmp', 'hotswap.sock')
  served = await startServeArgs({
    dir: t.dir, port, socket, waitListening: 1,
    args: ['app.mjs', '--db', 'live.sqlite3', '--workers', '1', '--port', String(port), '--socket', socket, '--watch'],
  })
  await served.waitForLog(/^watch: reloading on changes under /)
})

after(async () => {
  const code = await served?.stop()
  t.cleanup()
  elsewhere.cleanup()
  assert.equal(code, 0)
})

async function pid (): Promise<number> {
  return (await request(port, '/argv', { keepAlive: false })).json().pid as number
}

function reloads (): number {
  return served!.logs().filter((l) => l.event === 'watch-reload').length
}

test('database writes and a swap do not reload', async () => {
  const first = await pid()
  for (let i = 0; i < 5; i++) assert.equal((await request(port, '/write', { keepAlive: false })).status, 200)
  // The new database is made elsewhere: a file made under the app's directory is a change.
  const next = pushable(elsewhere.dir, 'v1')
  const cp = await cli(['cp', next.path, 'live', '--socket', served!.socket], { cwd: t.dir })
  assert.equal(cp.code, 0, cp.stderr)
  for (let i = 0; i < 5; i++) assert.equal((await request(port, '/write', { keepAlive: false })).status, 200)
  // Well past the debounce: a reload would have started by now.
  await sleep(1500)
  assert.equal(reloads(), 0, `no watch reload; log:\n${served!.output().slice(-3000)}`)
  assert.equal(await pid(), first)
})

test('a source change reloads the workers once', async () => {
  const first = await pid()
  writeFileSync(join(t.dir, 'lib.mjs'), 'export const version = 2\n')
  writeFileSync(join(t.dir, 'lib.mjs'), 'export const version = 3\n')
  await served!.waitForLog(/^reload complete: 1 worker\(s\) replaced/)
  const line = served!.logs().find((l) => l.event === 'watch-reload')
  assert.ok((line?.files as string[]).every((f) => f === join(t.dir, 'lib.mjs')), JSON.stringify(line?.files))
  assert.notEqual(await pid(), first)
  assert.equal(reloads(), 1, 'two writes in a row: one reload')
})

test('bad values: "watch" in the config file must be true or false; --watch takes no value', async () => {
  const dir = join(t.dir, 'bad')
  mkdirSync(dir)
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({ watch: 'yes' }))
  const res = await serveToExit([], { cwd: dir })
  assert.equal(res.code, 1, res.stderr)
  assert.match(errorLine(res.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*hotswap\.config\.json: "watch" must be true or false$/)
  const flag = await serveToExit(['app.mjs', '--watch=yes'], { cwd: dir })
  assert.equal(flag.code, 2, flag.stderr)
  assert.match(errorLine(flag.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] /)
})
