// Bad input to the generation commands (issue 13): undo with nothing kept, an unknown or the
// live id, a commit of an unknown, expired or stale stage, a second stage, an invalid --keep, a
// corrupted manifest, a kept file truncated on disk. Each is one `ERROR [CODE] message` line on
// stderr with the documented exit status (usage 2, else 1), and nothing changed: the data served,
// manifest.json byte for byte, the files in .hotswap/ and beside the database.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  cli, dump, errorLine, exchange, fixture, freePort, gemStream, generationsFolder, historyOf, request, seed,
  type ServedLive, serveInFolder, serveToExit, settledManifest, sleep, tempDir, TrackedLoad, waitUntil,
} from '../support/index.js'

let t: ReturnType<typeof tempDir>
/** --keep 1 (the default), under light traffic all along. */
let main: ServedLive
/** --keep 0 --stage-ttl 300, one worker. */
let zero: ServedLive
let traffic: TrackedLoad

before(async () => {
  t = tempDir()
  // Each kept as soon as it is up, so after() stops it even when the other did not start.
  await Promise.all([
    serveInFolder(t.dir, 'main', { labels: ['v2', 'v3'] }).then((s) => { main = s }),
    serveInFolder(t.dir, 'zero', { labels: ['v2', 'v3'], args: ['--keep', '0', '--stage-ttl', '300'], workers: 1 }).then((s) => { zero = s }),
  ])
  traffic = new TrackedLoad(main.served.port, { paths: ['/label', '/torn?ms=2'], concurrency: 2, maxMs: 60_000 })
})

after(async () => {
  await traffic?.stop()
  const codes = await Promise.all([main?.served.stop(), zero?.served.stop()])
  t?.cleanup()
  assert.deepEqual(codes, [0, 0], 'both servers exit 0 on SIGTERM')
})

/** What a refusal must leave as it was. */
async function snapshot (s: ServedLive): Promise<Record<string, unknown>> {
  const folder = generationsFolder(s.live)
  const res = await request(s.served.port, '/label', { keepAlive: false })
  return {
    served: res.json().label,
    manifest: readFileSync(join(folder, 'manifest.json'), 'utf8'),
    folder: readdirSync(folder).sort(),
    beside: readdirSync(s.dir).sort(),
  }
}

/** One `ERROR [CODE] message` line (a usage error may add oclif's indented detail lines). */
function assertErrorLine (stderr: string, code: string): void {
  const [first, ...rest] = stderr.split('\n')
  assert.match(first ?? '', new RegExp(`^ERROR \\[${code}\\] \\S`), `stderr: ${stderr}`)
  if (code === 'HOTSWAP_ERR_USAGE') assert.ok(rest.every((l) => l === '' || l.startsWith('  ')), `stderr: ${stderr}`)
  else assert.equal(stderr, `${first ?? ''}\n`, 'exactly one line on stderr')
}

/** Runs the real CLI against `s`; it must be refused with `code` and change nothing. */
async function refused (s: ServedLive, args: string[], code: string, message?: RegExp): Promise<string> {
  await settledManifest(s.live)
  const before = await snapshot(s)
  const res = await cli([...args, '--socket', s.served.socket], { cwd: s.dir })
  const what = `hotswap ${args.join(' ')}`
  assert.equal(res.code, code === 'HOTSWAP_ERR_USAGE' ? 2 : 1, `${what}: exit status; stderr: ${res.stderr}`)
  assert.equal(res.stdout.toString(), '', `${what}: nothing on stdout`)
  assertErrorLine(res.stderr, code)
  if (message !== undefined) assert.match(res.stderr, message)
  assert.deepEqual(await snapshot(s), before, `${what}: nothing changed`)
  return res.stderr
}

async function ok (s: ServedLive, args: string[]): Promise<string> {
  const res = await cli([...args, '--socket', s.served.socket], { cwd: s.dir })
  assert.equal(res.code, 0, `hotswap ${args.join(' ')}: ${res.stderr}`)
  return res.stdout.toString()
}

/** Runs `fn` on every item, `n` at a time (the machine has two cores; a CLI start-up is mostly waiting). */
async function fewAtATime<T> (items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({ length: n }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item)
  }))
}

test('undo, commit and abort refused on a fresh server: nothing kept, unknown or live id, not managed, nothing staged', async () => {
  const s = main
  const cases: Array<[string[], string, RegExp]> = [
    [['undo'], 'HOTSWAP_ERR_NOTHING_KEPT', /generation 1 is the first/],
    [['undo', 'live', '--to', '99'], 'HOTSWAP_ERR_UNKNOWN_GENERATION', /no generation 99 \(kept: none\)/],
    [['undo', '--to', '1'], 'HOTSWAP_ERR_UNKNOWN_GENERATION', /generation 1 of live is the live one/],
    [['undo', '--to', 'abc'], 'HOTSWAP_ERR_USAGE', /--to/],
    [['undo', 'nosuchdb'], 'HOTSWAP_ERR_NOT_MANAGED', /"nosuchdb" is not a managed database/],
    [['commit'], 'HOTSWAP_ERR_UNKNOWN_STAGE', /nothing is staged/],
    [['commit', 'deadbeef'], 'HOTSWAP_ERR_UNKNOWN_STAGE', /"deadbeef"/],
    [['abort', 'deadbeef'], 'HOTSWAP_ERR_UNKNOWN_STAGE', /"deadbeef"/],
    // A pull has nothing to stage: refused before anything is written (before, the client pulled and ignored --stage).
    [['cp', 'live.sqlite3', 'out.sqlite3', '--stage'], 'HOTSWAP_ERR_USAGE', /--stage is for a push/],
    [['cp', 'live.sqlite3', '-', '--stage'], 'HOTSWAP_ERR_USAGE', /--stage is for a push/],
  ]
  // None of them changes anything, so they may run side by side.
  await fewAtATime(cases, 3, async ([args, code, message]) => { await refused(s, args, code, message) })
  assert.equal(existsSync(join(s.dir, 'out.sqlite3')), false)
})

test('stages: a second --stage refused before any byte is received; a stage whose database was swapped since is stale and stays abortable', async () => {
  const s = main
  const id = (await ok(s, ['cp', s.files.v2 as string, s.live, '--stage'])).trim()
  assert.match(id, /^[0-9a-f]{8}$/)
  const stageFiles = [`stage-${id}.json`, `stage-${id}.sqlite3`]
  const received = (): number => s.served.logs().filter((l) => /^received \d+ bytes for live/.test(String(l.message))).length
  const receivedBefore = received()
  await refused(s, ['cp', s.files.v3 as string, s.live, '--stage'], 'HOTSWAP_ERR_ALREADY_STAGED', new RegExp(`already has stage ${id}`))
  // Over the socket with no stdin frame at all: the answer comes without waiting for one.
  const raw = await exchange(s.served.socket, gemStream(['cp', '-', 'live.sqlite3', '--stage']), { timeoutMs: 10_000 })
  assert.equal(raw.timedOut, false, 'answered before any byte was sent')
  assert.deepEqual([raw.control?.exit, raw.control?.code], [1, 'HOTSWAP_ERR_ALREADY_STAGED'])
  assert.equal(received(), receivedBefore, 'nothing was received for the second stage')

  // Swapped since: the stage's checks ran against generation 1, generation 2 is live.
  assert.equal(await ok(s, ['cp', s.files.v3 as string, s.live]), 'OK\n')
  await refused(s, ['commit', id], 'HOTSWAP_ERR_STAGE_STALE', /checked against generation 1, but generation 2 is live/)
  await refused(s, ['commit'], 'HOTSWAP_ERR_STAGE_STALE')
  assert.deepEqual((await historyOf(s.served.socket))[0]?.staged.map((x) => x.id), [id], 'the stale stage is still listed')
  for (const f of stageFiles) assert.ok(existsSync(join(generationsFolder(s.live), f)), `${f} is still there`)
  assert.equal(await ok(s, ['abort', id]), 'OK\n')
  for (const f of stageFiles) assert.equal(existsSync(join(generationsFolder(s.live), f)), false, `${f} removed by abort`)
  assert.deepEqual((await historyOf(s.served.socket))[0]?.staged, [])
  await refused(s, ['abort', id], 'HOTSWAP_ERR_UNKNOWN_STAGE')
})

test('a kept file truncated on disk: undo refuses it (HOTSWAP_ERR_TRUNCATED) and nothing changes', async () => {
  const s = main
  const m = await settledManifest(s.live)
  assert.deepEqual(m.generations.map((g) => g.id), [2, 1])
  const kept = join(generationsFolder(s.live), '1.sqlite3')
  truncateSync(kept, statSync(kept).size - 1000)
  await refused(s, ['undo'], 'HOTSWAP_ERR_TRUNCATED', /kept generation 1 of live .*nothing was changed/)
  await refused(s, ['undo', 'live', '--to', '1'], 'HOTSWAP_ERR_TRUNCATED')
  assert.equal((await request(s.served.port, '/label', { keepAlive: false })).json().label, 'v3')
})

test('--keep 0: undo after a push has nothing kept; an expired stage cannot be committed and its files are gone', async () => {
  const s = zero
  assert.equal(await ok(s, ['cp', s.files.v2 as string, s.live]), 'OK\n')
  assert.deepEqual(readdirSync(generationsFolder(s.live)), ['manifest.json'], '--keep 0 keeps no file')
  await refused(s, ['undo'], 'HOTSWAP_ERR_NOTHING_KEPT', /--keep 0/)

  const id = (await ok(s, ['cp', s.files.v3 as string, s.live, '--stage'])).trim()
  assert.match(id, /^[0-9a-f]{8}$/)
  const manifest = readFileSync(join(generationsFolder(s.live), 'manifest.json'), 'utf8')
  await sleep(600) // past --stage-ttl 300
  const res = await cli(['commit', id, '--socket', s.served.socket], { cwd: s.dir })
  assert.equal(res.code, 1, res.stderr)
  assertErrorLine(res.stderr, 'HOTSWAP_ERR_STAGE_EXPIRED')
  await waitUntil('the expired stage files to go', () => readdirSync(generationsFolder(s.live)).every((n) => !n.startsWith('stage-')))
  assert.deepEqual(readdirSync(generationsFolder(s.live)), ['manifest.json'])
  assert.equal(readFileSync(join(generationsFolder(s.live), 'manifest.json'), 'utf8'), manifest, 'manifest unchanged')
  assert.equal((await request(s.served.port, '/label', { keepAlive: false })).json().label, 'v2')
})

test('the traffic on the server all along: no failed, no torn request', async () => {
  await traffic.stop()
  assert.deepEqual(traffic.failures, [], traffic.summary())
  assert.deepEqual(traffic.bad, [], traffic.summary())
  assert.ok(traffic.ok > 0)
})

test('serve refuses an invalid --keep (usage, exit 2), "keep" in the config file (config, exit 1), a corrupted manifest.json', async () => {
  const cases: Array<{ name: string, args: string[], env?: Record<string, string>, config?: string, manifest?: string, code: string, message: RegExp }> = [
    { name: 'minus', args: ['--keep=-1'], code: 'HOTSWAP_ERR_USAGE', message: /--keep/ },
    { name: 'minus-spaced', args: ['--keep', '-1'], code: 'HOTSWAP_ERR_USAGE', message: /--keep/ },
    { name: 'letter', args: ['--keep', 'x'], code: 'HOTSWAP_ERR_USAGE', message: /--keep/ },
    { name: 'config', args: [], config: '{ "keep": "x" }', code: 'HOTSWAP_ERR_CONFIG', message: /hotswap\.config\.json: "keep" must be an integer/ },
    { name: 'env', args: [], env: { HOTSWAP_KEEP: 'x' }, code: 'HOTSWAP_ERR_CONFIG', message: /HOTSWAP_KEEP/ },
    { name: 'manifest', args: [], manifest: '{ "version": 1, "live": ', code: 'HOTSWAP_ERR_CONFIG', message: /manifest\.json/ },
  ]
  await fewAtATime(cases, 2, async (c) => {
    const dir = join(t.dir, `start-${c.name}`)
    mkdirSync(dir)
    const live = join(dir, 'live.sqlite3')
    seed(live, { label: 'v1' })
    if (c.config !== undefined) writeFileSync(join(dir, 'hotswap.config.json'), c.config)
    const folder = generationsFolder(live)
    if (c.manifest !== undefined) {
      mkdirSync(folder, { recursive: true })
      writeFileSync(join(folder, 'manifest.json'), c.manifest)
    }
    const data = dump(live)
    const beside = readdirSync(dir).sort()
    const res = await serveToExit([fixture('app.mjs'), '--workers', '1', '--port', String(await freePort()), '--db', live,
      '--socket', join(dir, 's.sock'), ...c.args], { cwd: dir, env: c.env })
    assert.equal(res.code, c.code === 'HOTSWAP_ERR_USAGE' ? 2 : 1, `${c.name}: exit status; stderr: ${res.stderr}`)
    const line = errorLine(res.stderr)
    assert.match(line, new RegExp(`^ERROR \\[${c.code}\\] \\S`), `${c.name}: ${res.stderr}`)
    assert.match(line, c.message, c.name)
    assert.equal(res.stderr.split('\n').filter((l) => l.startsWith('ERROR [')).length, 1, `${c.name}: one error line`)
    if (c.manifest !== undefined) {
      assert.ok(line.includes(join(folder, 'manifest.json')), `${c.name}: the error names the file: ${line}`)
      assert.equal(readFileSync(join(folder, 'manifest.json'), 'utf8'), c.manifest, 'the manifest is left as it was')
      assert.deepEqual(readdirSync(folder), ['manifest.json'])
    } else {
      assert.equal(existsSync(join(dir, '.hotswap')), false, `${c.name}: no .hotswap/ made`)
    }
    // The lock file (`.live.sqlite3.hotswap-lock`) is taken first and stays, as after any serve.
    assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.hotswap-lock')).sort(), beside, `${c.name}: nothing added beside the database`)
    assert.equal(dump(live), data, `${c.name}: the database unchanged`)
  })
})
