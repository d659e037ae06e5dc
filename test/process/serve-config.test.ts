// Start-up input: every bad input is one clear "ERROR [HOTSWAP_ERR_…]" line and a
// non-zero exit, never a loop or a hang; and the settings layers (config file < HOTSWAP_* <
// flags) decide what actually runs, checked through `status --json`.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { cli, type CliResult, errorLine, fixture, freePort, isAlive, liveForFile, request, type Served, serveToExit, startServeArgs, statusJson, tempDir } from '../support/index.js'

const servers: Served[] = []
const workerPids = new Set<number>()
let t: ReturnType<typeof tempDir>
let live: string

after(async () => {
  for (const s of servers) await s.stop()
  for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
})

liveForFile({ label: 'config-data' }, (s) => {
  ({ t, live } = s)
  writeFileSync(join(t.dir, 'VERSION'), 'v1')
})

/** A folder of its own under the test folder, with a VERSION file for versioned-app.mjs. */
function folder (name: string): string {
  const dir = join(t.dir, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'VERSION'), 'v1')
  return dir
}

async function serveCli (args: string[], opts: { cwd?: string, env?: Record<string, string> } = {}): Promise<CliResult> {
  return await cli(['serve', ...args], { cwd: opts.cwd ?? t.dir, env: { HOTSWAP_LOG_FORMAT: 'json', ...opts.env }, timeoutMs: 30_000 })
}

/** Exit `code`, and stderr is exactly one ERROR line with `errCode` matching `message` (plus, for usage errors, indented detail lines). */
function assertOneError (res: CliResult, code: number, errCode: string, message: RegExp): void {
  const lines = res.stderr.split('\n').filter((l) => l !== '')
  assert.equal(res.code, code, `exit ${code}; stderr:\n${res.stderr}`)
  assert.equal(lines.filter((l) => !l.startsWith('  ')).length, 1, `one unindented stderr line:\n${res.stderr}`)
  assert.match(lines[0] ?? '', new RegExp(`^ERROR \\[${errCode}\\] `))
  assert.match(lines[0] ?? '', message)
}

function logLines (res: CliResult): Array<Record<string, unknown>> {
  return res.stdout.toString().split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return []
    try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] }
  })
}

test('a missing app file: exit 1, the path named, no socket left', async () => {
  const sock = join(t.dir, 'missing', 'hotswap.sock')
  const res = await serveCli(['nope.mjs', '--db', live, '--workers', '1', '--socket', sock])
  assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', new RegExp(`app file not found: ${join(t.dir, 'nope.mjs').replace(/[.]/g, '\\.')}$`))
  assert.equal(existsSync(sock), false)
})

test('no app at all: exit 1, says where an app can come from', async () => {
  const res = await serveCli(['--db', live, '--socket', join(t.dir, 'noapp.sock')], { cwd: folder('noapp') })
  assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', /no app to serve: give APP, or "app" in hotswap\.config\.json/)
})

test('an unknown flag: a usage error, exit 2', async () => {
  const res = await serveCli([fixture('versioned-app.mjs'), '--db', live, '--bogus'])
  assertOneError(res, 2, 'HOTSWAP_ERR_USAGE', /Nonexistent flag: --bogus/)
})

test('a bad --workers value names the flag: a usage error, exit 2', async () => {
  const res = await serveCli([fixture('versioned-app.mjs'), '--db', live, '--workers', 'lots', '--socket', join(t.dir, 'w.sock')])
  assertOneError(res, 2, 'HOTSWAP_ERR_USAGE', /--workers must be a positive integer or "max"/)
})

test('an invalid config file: a wrong type names the field, an unknown key is named, bad JSON is reported', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['wrong-type', JSON.stringify({ app: fixture('versioned-app.mjs'), db: live, workers: 'lots' }), /hotswap\.config\.json: "workers" must be an integer of at least 1 \(got "lots"\)$/],
    ['unknown-key', JSON.stringify({ app: fixture('versioned-app.mjs'), db: live, wrokers: 2 }), /hotswap\.config\.json: "wrokers" is not a known setting \(known: app, workers, /],
    ['bad-port', JSON.stringify({ app: fixture('versioned-app.mjs'), db: live, port: 70000 }), /hotswap\.config\.json: "port" must be at most 65535$/],
    ['bad-json', '{ "workers": 2,', /cannot read .*hotswap\.config\.json: /],
    ['not-object', '[1, 2]', /hotswap\.config\.json: the config must be an object$/],
  ]
  for (const [name, text, message] of cases) {
    const dir = folder(`config-${name}`)
    writeFileSync(join(dir, 'hotswap.config.json'), text)
    const sock = join(dir, 'hotswap.sock')
    const res = await serveCli(['--socket', sock], { cwd: dir })
    assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', message)
    assert.equal(existsSync(sock), false, `${name}: nothing started`)
  }
})

test('--config naming a file that does not exist', async () => {
  const res = await serveCli(['--config', 'nowhere/hotswap.config.json', '--socket', join(t.dir, 'c.sock')])
  assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', /config file not found: .*nowhere\/hotswap\.config\.json$/)
})

test('an invalid HOTSWAP_* variable names it', async () => {
  const res = await serveCli([fixture('versioned-app.mjs'), '--db', live, '--socket', join(t.dir, 'e.sock')], { env: { HOTSWAP_WORKERS: 'lots' } })
  assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', /environment: "workers" must be an integer of at least 1 \(got "lots"\)/)
})

test('a port already in use: workers exit EX_CONFIG once, no restart loop, serve exits 1 saying so', async (t2) => {
  const blocker = net.createServer()
  await new Promise<void>((resolve, reject) => {
    blocker.once('error', reject)
    blocker.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (blocker.address() as net.AddressInfo).port
  try {
    const dir = folder('port-in-use')
    const sock = join(dir, 'hotswap.sock')
    const t0 = Date.now()
    const res = await serveCli([fixture('versioned-app.mjs'), '--db', live, '--workers', '2', '--port', String(port), '--socket', sock], { cwd: dir })
    t2.diagnostic(`serve gave up after ${Date.now() - t0} ms`)
    assertOneError(res, 1, 'HOTSWAP_ERR_CONFIG', new RegExp(`^ERROR \\[HOTSWAP_ERR_CONFIG\\] no worker could be kept running: port ${port} is already in use$`))
    const sup = logLines(res).filter((l) => l.role === 'supervisor').map((l) => String(l.message))
    for (const slot of [1, 2]) {
      assert.equal(sup.filter((m) => m.startsWith(`worker ${slot} started`)).length, 1, `slot ${slot} started once:\n${sup.join('\n')}`)
      // This message is the supervisor's answer to exit code 78 (EX_CONFIG) only.
      assert.ok(sup.includes(`worker ${slot} cannot start: port ${port} is already in use; not restarting it`), `slot ${slot} given up:\n${sup.join('\n')}`)
    }
    assert.equal(sup.filter((m) => /restarting in/.test(m)).length, 0, 'no restart')
    assert.equal(existsSync(sock), false, 'socket removed')
  } finally {
    await new Promise((resolve) => blocker.close(resolve))
  }
})

// ---------------------------------------------------------------------------------------------
// The layers: hotswap.config.json in the working directory, then HOTSWAP_*, then flags.

async function startFromConfig (dir: string, args: string[], port: number, socket: string, workers: number, env: Record<string, string> = {}): Promise<Served> {
  const s = await startServeArgs({ dir, args, port, socket, env, waitListening: workers })
  servers.push(s)
  assert.equal(s.child.exitCode, null, `serve is running; output:\n${s.output().slice(-3000)}`)
  return s
}

async function checkRunning (s: Served, workers: number): Promise<void> {
  const st = await statusJson(s.socket, s.dir)
  for (const w of st.workers) workerPids.add(w.pid)
  assert.equal(st.primary.pid, s.pid)
  assert.equal(st.primary.socket, s.socket)
  assert.equal(st.workers.length, workers, `${workers} worker(s)`)
  for (const w of st.workers) assert.ok(isAlive(w.pid))
  assert.equal(st.databases[0]?.name, 'live')
  assert.equal(st.databases[0]?.path, live)
  const res = await request(s.port, '/version', { keepAlive: false })
  assert.equal(res.status, 200)
  assert.equal(res.json().label, 'config-data')
  assert.ok(st.workers.some((w) => w.pid === res.json().pid), 'the configured port reaches the workers')
}

test('hotswap.config.json in the working directory supplies app, db, workers, port and socket', async () => {
  const dir = folder('from-config')
  const port = await freePort()
  // Paths in the file resolve against the file's own folder.
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    app: fixture('versioned-app.mjs'), db: '../live.sqlite3', workers: 2, port, socket: 'run/hotswap.sock', killTimeout: 2000,
  }))
  const s = await startFromConfig(dir, [], port, join(dir, 'run', 'hotswap.sock'), 2)
  await checkRunning(s, 2)
  assert.equal(await s.stop(), 0)
  assert.equal(existsSync(s.socket), false)
})

test('a flag beats the config file: --workers 1 over "workers": 2', async () => {
  const dir = join(t.dir, 'from-config') // The same hotswap.config.json.
  const port = await freePort()
  // A flag beats the file's port too.
  const s = await startFromConfig(dir, ['--workers', '1', '--port', String(port)], port, join(dir, 'run', 'hotswap.sock'), 1)
  await checkRunning(s, 1)
  assert.equal(await s.stop(), 0)
})

test('--config PATH to a .mjs file; HOTSWAP_WORKERS beats the file, a flag beats HOTSWAP_PORT', async () => {
  const dir = folder('mjs-config')
  mkdirSync(join(dir, 'etc'))
  const port = await freePort()
  const envPort = await freePort()
  writeFileSync(join(dir, 'etc', 'hotswap.config.mjs'), `export default ${JSON.stringify({ app: fixture('versioned-app.mjs'), db: '../../live.sqlite3', workers: 2, port: envPort })}\n`)
  const socket = join(dir, 'hotswap.sock')
  const s = await startFromConfig(dir, ['--config', 'etc/hotswap.config.mjs', '--socket', socket, '--port', String(port)], port, socket, 1, {
    HOTSWAP_WORKERS: '1', HOTSWAP_PORT: String(envPort),
  })
  await checkRunning(s, 1)
  assert.equal(await s.stop(), 0)
})

test('serve with a missing app or a missing database file exits with HOTSWAP_ERR_CONFIG', async () => {
  const port = await freePort()
  const socket = join(t.dir, 'cfg', 'sock', 'hotswap.sock')
  const noApp = await serveToExit([join(t.dir, 'no-such-app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', live], { cwd: t.dir })
  assert.notEqual(noApp.code, 0, noApp.stderr)
  assert.match(errorLine(noApp.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*no-such-app\.mjs/, noApp.stderr)
  const noDb = await serveToExit([fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', join(t.dir, 'no-such.sqlite3')], { cwd: t.dir })
  assert.notEqual(noDb.code, 0, noDb.stderr)
  assert.match(errorLine(noDb.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*no-such\.sqlite3/, noDb.stderr)
  assert.equal(existsSync(socket), false, 'no socket was created')
})
