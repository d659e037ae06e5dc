// A worker process that cannot be started at all. Since every fork enters the working directory
// by name, a serve started in a directory no symlink names (systemd's
// WorkingDirectory=/srv/app/releases/1, no $PWD) could not restart a worker once that release
// was pruned: spawn failed with ENOENT, Node reported it as an 'error' and never an 'exit', and
// the slot stayed "starting" with pid -1 for good: not restarted, not a crash loop, no word
// beyond a warning. The same for any spawn failure (the node binary removed by an upgrade).
//
//   serve in DIR; rm -r DIR; kill a worker   ─▶ its replacement starts (in the removed directory,
//                                               inherited, as before item 12) and serves
//   serve on a node binary since removed      ─▶ each restart fails, a crash loop, serve exits 1
//                                               with one coded line naming the spawn error

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, rmSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, fixture, freePort, isAlive, liveForFile, request, type Served, startServeArgs, statusJson, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let live: string
let served: Served | undefined
let orphan: number | undefined

after(async () => {
  await served?.stop()
  if (orphan !== undefined && isAlive(orphan)) process.kill(orphan, 'SIGKILL')
})

liveForFile({}, (s) => { ({ t, live } = s) })

test('a worker killed after its working directory was removed is replaced, and the new one serves', async () => {
  const run = join(t.dir, 'releases', '1')
  mkdirSync(run, { recursive: true })
  const port = await freePort()
  const socket = join(t.dir, 'sock', 'hotswap.sock')
  served = await startServeArgs({
    dir: run,
    env: { PWD: run },
    args: [fixture('app.mjs'), '--workers', '2', '--port', String(port), '--socket', socket, '--db', live],
    port,
    socket,
    waitListening: 2,
  })
  rmSync(run, { recursive: true })
  const before = await statusJson(socket, t.dir)
  const victim = before.workers[0]?.pid as number
  process.kill(victim, 'SIGKILL')
  const after = await waitUntil('both workers ready again, with real pids', async () => {
    const s = await statusJson(socket, t.dir)
    return s.workers.length === 2 && s.workers.every((w) => w.state === 'ready' && w.pid > 0 && w.pid !== victim) ? s : null
  }, 20_000)
  assert.equal(after.workers.length, 2)
  for (let i = 0; i < 4; i++) {
    const r = await request(port, '/label', { keepAlive: false })
    assert.equal(r.status, 200)
    assert.equal(r.json().label, 'v0')
  }
  assert.ok(served.logs().some((l) => /working directory .* no longer exists/.test(String(l.message))), 'the removed directory is named in the log')
  await served.stop()
  served = undefined
})

test('a worker that cannot be spawned (node binary removed) is a crash loop: serve exits 1 with one coded line', async () => {
  // serve runs on its own copy of node, removed once it started: cluster forks process.execPath.
  const node = join(t.dir, 'node-copy')
  copyFileSync(process.execPath, node)
  chmodSync(node, 0o755)
  const port = await freePort()
  const socket = join(t.dir, 'sock2', 'hotswap.sock')
  const child = spawn(node, [BIN, 'serve', fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live,
    '--max-restarts', '2', '--min-uptime', '60000'], { cwd: t.dir, env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] })
  orphan = child.pid
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await waitUntil('the worker listening', () => /worker 1 listening on/.test(out) || child.exitCode !== null, 20_000)
  assert.equal(child.exitCode, null, `serve started: ${err}${out.slice(-2000)}`)
  unlinkSync(node)
  const status = await statusJson(socket, t.dir)
  process.kill(status.workers[0]?.pid as number, 'SIGKILL')
  await waitUntil('serve to give up', () => child.exitCode !== null, 20_000).catch(() => {})
  assert.notEqual(child.exitCode, null, `serve gave up; output:\n${out.slice(-3000)}`)
  const code = await exited
  assert.equal(code, 1, `serve gave up with exit 1; output:\n${out.slice(-3000)}`)
  const errorLines = err.split('\n').filter((l) => l.startsWith('ERROR'))
  assert.equal(errorLines.length, 1, err)
  assert.match(errorLines[0] as string, /^ERROR \[HOTSWAP_ERR_CONFIG\] no worker could be kept running: cannot start a worker process: spawn .*ENOENT/)
  assert.doesNotMatch(err, /\n\s+at /, 'no stack trace')
})
