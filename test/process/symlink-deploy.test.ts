// After a symlink-switch deploy (`current -> releases/2`), `hotswap reload`
// said it succeeded and ran the old release: the app path, and the working directory the workers
// inherited, had been resolved once through the old link at start-up. Once the old release was
// pruned, no worker could restart. Now every fork enters the working directory by name and
// imports the app path as given, so both follow the link; `status` shows the path as given and
// the file it named at the last fork.
//
//   cd current && hotswap serve app.mjs     (current -> releases/1, as a shell leaves $PWD)
//   ln -sfn releases/2 current; hotswap reload  ─▶ version 2
//   rm -r releases/1; kill a worker             ─▶ its replacement is on version 2

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, cpSync, mkdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, exchange, fixture, freePort, gemStream, labelOf, request, ROOT, seed, type Served, startServeArgs, statusJson, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let current: string
let socket: string
let live: string
let configured: Served | undefined
let bundled: Served | undefined

function release (root: string, n: number, config?: object): string {
  const dir = join(root, 'releases', String(n))
  mkdirSync(dir, { recursive: true })
  copyFileSync(fixture('versioned-app.mjs'), join(dir, 'app.mjs'))
  copyFileSync(fixture('json-app.mjs'), join(dir, 'json-app.mjs')) // the module the app imports
  writeFileSync(join(dir, 'VERSION'), String(n)) // versioned-app reads it from its working directory
  if (config !== undefined) writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify(config))
  return dir
}

/** `ln -sfn releases/N current`, atomically, as deploy tools do. */
function pointCurrentAt (root: string, n: number): void {
  const link = join(root, 'current')
  symlinkSync(join('releases', String(n)), `${link}.next`)
  renameSync(`${link}.next`, link)
}

async function versions (s: Served, n: number): Promise<Set<string>> {
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) seen.add(String((await request(s.port, '/version', { keepAlive: false })).json().version))
  return seen
}

before(async () => {
  t = tempDir()
  // The releases import 'hotswap' as an installed app would.
  mkdirSync(join(t.dir, 'node_modules'))
  symlinkSync(ROOT, join(t.dir, 'node_modules', 'hotswap'))
  release(t.dir, 1)
  release(t.dir, 2)
  current = join(t.dir, 'current')
  pointCurrentAt(t.dir, 1)
  mkdirSync(join(t.dir, 'data'))
  live = join(t.dir, 'data', 'live.sqlite3')
  seed(live, { label: 'v0' })
  const port = await freePort()
  socket = join(t.dir, 'sock', 'hotswap.sock')
  served = await startServeArgs({
    dir: current,
    env: { PWD: current },
    args: ['app.mjs', '--workers', '2', '--port', String(port), '--socket', socket, '--db', live],
    port,
    socket,
    waitListening: 2,
  })
})

after(async () => {
  await served?.stop()
  await configured?.stop()
  await bundled?.stop()
  t?.cleanup()
})

test('reload after switching current to releases/2 runs release 2, and a restart after pruning releases/1 too', async () => {
  assert.deepEqual(await versions(served, 10), new Set(['1']))
  let st = await statusJson(socket, t.dir)
  const given = join(current, 'app.mjs')
  assert.deepEqual(st.primary.app, { path: given, resolved: realpathSync(join(t.dir, 'releases', '1', 'app.mjs')) })

  pointCurrentAt(t.dir, 2)
  const r = await cli(['reload', '--socket', socket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await versions(served, 10), new Set(['2']), 'every worker runs the release current points at')
  const two = realpathSync(join(t.dir, 'releases', '2', 'app.mjs'))
  st = await statusJson(socket, t.dir)
  assert.deepEqual(st.primary.app, { path: given, resolved: two })
  assert.deepEqual(st.workers.map((w) => w.app), [two, two])

  rmSync(join(t.dir, 'releases', '1'), { recursive: true })
  const victim = st.workers[0]?.pid as number
  process.kill(victim, 'SIGKILL')
  await waitUntil('a replacement for the killed worker', async () => {
    const now = await statusJson(socket, t.dir)
    return now.workers.length === 2 && now.workers.every((w) => w.pid !== victim && w.state === 'ready')
  }, 30_000)
  assert.deepEqual(await versions(served, 10), new Set(['2']))

  // The gem's client sends paths relative to the server's working directory: current, by name
  // (the primary itself still sits in the pruned release's directory).
  seed(join(current, 'next.sqlite3'), { label: 'from-release-2' })
  const pushed = await exchange(socket, gemStream(['cp', 'next.sqlite3', 'live']), { timeoutMs: 30_000 })
  assert.equal(pushed.control?.exit, 0, pushed.stderr)
  assert.equal(labelOf(live), 'from-release-2')

  const text = await cli(['status', '--socket', socket], { cwd: t.dir })
  assert.equal(text.code, 0, text.stderr)
  assert.ok(text.stdout.toString().includes(`app ${given}  (at the last fork: ${two})`), text.stdout.toString())
})

test('a config file\'s relative app follows the link too', async () => {
  const root = join(t.dir, 'cfg')
  mkdirSync(join(root, 'data'), { recursive: true })
  const db = join(root, 'data', 'cfg.sqlite3')
  seed(db, { label: 'c0' })
  const port = await freePort()
  const sock = join(root, 'sock', 'hotswap.sock')
  for (const n of [1, 2]) release(root, n, { app: 'app.mjs', workers: 1, port, socket: sock, db: [db] })
  pointCurrentAt(root, 1)
  const here = join(root, 'current')
  configured = await startServeArgs({ dir: here, env: { PWD: here }, args: [], port, socket: sock, waitListening: 1 })
  assert.deepEqual(await versions(configured, 3), new Set(['1']))
  pointCurrentAt(root, 2)
  const r = await cli(['reload', '--socket', sock], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await versions(configured, 3), new Set(['2']))
  assert.equal((await statusJson(sock, t.dir)).primary.app.path, join(here, 'app.mjs'))
})

test('hotswap installed inside a pruned release: a worker that cannot start says why, and is not restarted in a loop', async () => {
  const root = join(t.dir, 'bundled')
  mkdirSync(join(root, 'data'), { recursive: true })
  const db = join(root, 'data', 'b.sqlite3')
  seed(db, { label: 'b0' })
  for (const n of [1, 2]) {
    // Each release has its own copy of hotswap in its node_modules, as `npm ci` leaves it.
    const pkg = join(release(root, n), 'node_modules', 'hotswap')
    mkdirSync(pkg, { recursive: true })
    for (const part of ['package.json', 'bin', join('dist', 'src')]) cpSync(join(ROOT, part), join(pkg, part), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
  }
  pointCurrentAt(root, 1)
  const here = join(root, 'current')
  const port = await freePort()
  const sock = join(root, 'sock', 'hotswap.sock')
  bundled = await startServeArgs({
    dir: here,
    env: { PWD: here },
    bin: join(here, 'node_modules', 'hotswap', 'bin', 'run.js'),
    args: ['app.mjs', '--workers', '2', '--port', String(port), '--socket', sock, '--db', db],
    port,
    socket: sock,
    waitListening: 2,
  })
  pointCurrentAt(root, 2)
  assert.equal((await cli(['reload', '--socket', sock], { cwd: t.dir })).code, 0)
  assert.deepEqual(await versions(bundled, 4), new Set(['2']))

  // The primary runs the hotswap of release 1, and so would every worker it starts.
  rmSync(join(root, 'releases', '1'), { recursive: true })
  const st = await statusJson(sock, t.dir)
  const victim = st.workers[0]?.pid as number
  process.kill(victim, 'SIGKILL')
  const gone = await bundled.waitForLog(/worker runtime .* is gone/, 20_000)
  assert.match(String(gone.message), /restart hotswap serve/)
  await bundled.waitForLog(/not restarting it/, 20_000)
  const starts = bundled.logs().filter((l) => /^worker 1 started/.test(String(l.message)) && l.role === 'supervisor')
  assert.ok(starts.length <= 4, `worker 1 was not restarted in a loop (${starts.length} starts)`)
  assert.deepEqual(await versions(bundled, 4), new Set(['2']), 'the other worker keeps serving')
  const r = await cli(['reload', '--socket', sock], { cwd: t.dir })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /worker runtime .* is gone/)
})
