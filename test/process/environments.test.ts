// Environments in the config file, pm2's way: `env` for every start, `env_NAME` laid over it
// by --env NAME; a reload forks the workers on the file's environment as it is then (a changed
// variable is picked up without a restart). An unknown name is one clear error naming the
// sections the file has.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, errorLine, fixture, freePort, request, seed, type Served, serveToExit, startServeArgs, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served | undefined
let config: string
let port: number

function writeConfig (production: Record<string, unknown>): void {
  writeFileSync(config, JSON.stringify({
    app: fixture('argv-app.mjs'), db: 'live.sqlite3', workers: 2, port, socket: 'hotswap.sock',
    env: { GREETING: 'hello', NODE_ENV: 'development' },
    env_production: production,
    env_staging: { NODE_ENV: 'staging' },
  }))
}

/** What every worker says (asked on fresh connections until both answered). */
async function workers (): Promise<Array<Record<string, unknown>>> {
  const seen = new Map<number, Record<string, unknown>>()
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const body = (await request(port, '/argv', { keepAlive: false })).json()
    seen.set(body.pid as number, body)
  }
  assert.equal(seen.size, 2)
  return [...seen.values()]
}

before(async () => {
  t = tempDir()
  seed(join(t.dir, 'live.sqlite3'), { label: 'v0' })
  config = join(t.dir, 'hotswap.config.json')
  port = await freePort()
  writeConfig({ NODE_ENV: 'production', GREETING: 'prod hello' })
  served = await startServeArgs({ dir: t.dir, port, socket: join(t.dir, 'hotswap.sock'), waitListening: 2, args: ['--env', 'production'] })
})

after(async () => {
  const code = await served?.stop()
  t.cleanup()
  assert.equal(code, 0)
})

test('--env production lays env_production over env', async () => {
  for (const w of await workers()) {
    assert.equal(w.nodeEnv, 'production')
    assert.equal(w.greeting, 'prod hello')
  }
})

test('reload picks up a changed environment from the config file', async () => {
  const before = (await workers()).map((w) => w.pid)
  writeConfig({ NODE_ENV: 'production', GREETING: 'changed at reload' })
  const res = await cli(['reload', '--socket', served!.socket], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  const after = await workers()
  for (const w of after) {
    assert.ok(!before.includes(w.pid as number), 'a new worker')
    assert.equal(w.greeting, 'changed at reload')
    assert.equal(w.nodeEnv, 'production', 'still the production section')
  }
  const line = await served!.waitForLog(/the environment from .* changed: GREETING$/)
  assert.deepEqual(line.names, ['GREETING'], 'names only, never values')
})

test('a config file that no longer reads: the reload fails, the workers keep serving', async () => {
  const pids = (await workers()).map((w) => w.pid).sort()
  writeConfig({ NODE_ENV: 42 })
  const res = await cli(['reload', '--socket', served!.socket], { cwd: t.dir })
  assert.equal(res.code, 1, res.stderr)
  assert.match(errorLine(res.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*hotswap\.config\.json: "env_production\.NODE_ENV" must be a string$/)
  assert.deepEqual((await workers()).map((w) => w.pid).sort(), pids)
  writeConfig({ NODE_ENV: 'production', GREETING: 'prod hello' })
})

test('bad values: an unknown env name, --env without a config file (exit 1), a name that cannot be one (exit 2)', async () => {
  const unknown = await serveToExit(['--env', 'prod', '--socket', join(t.dir, 'x.sock')], { cwd: t.dir })
  assert.equal(unknown.code, 1, unknown.stderr)
  assert.match(errorLine(unknown.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] --env prod: .*hotswap\.config\.json has no "env_prod" section \(it has: env_production, env_staging\)$/)

  const empty = join(t.dir, 'no-config')
  mkdirSync(empty)
  const none = await serveToExit([fixture('argv-app.mjs'), '--db', join(t.dir, 'live.sqlite3'), '--env', 'production', '--socket', join(empty, 'x.sock')], { cwd: empty })
  assert.equal(none.code, 1, none.stderr)
  assert.match(errorLine(none.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] --env production: there is no config file/)

  const badName = await serveToExit(['--env', 'pro duction'], { cwd: t.dir })
  assert.equal(badName.code, 2, badName.stderr)
  assert.match(errorLine(badName.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] --env takes the NAME of an env_NAME section/)
})
