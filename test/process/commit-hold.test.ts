// A held commit (`commit ID --hold MS`, the host's side of a fleet switch): once every worker is
// paused it prints PAUSED and installs only on a "go" line; "abort", an end of input, a client
// that goes away or the hold timing out resume every worker on the old file with nothing
// changed, and the stage stays staged. Requests that arrive while it is held queue and succeed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { BIN, cli, cliUntil, fixture, type HeldCli, integrity, labelOf, request, seed, type Served, serveLiveForFile, sleep, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, label: 'v1' }, (s) => { ({ t, served, live } = s) })

async function stage (label: string): Promise<string> {
  const file = join(t.dir, `${label}.sqlite3`)
  seed(file, { label })
  const r = await cli(['cp', file, 'live', '--stage', '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.toString().trim()
}

/** `commit ID --hold MS`, its stdin ours: resolves once it printed PAUSED, with what to send and its end. */
async function held (id: string, ms: number, flags: string[] = []): Promise<HeldCli> {
  return await cliUntil(['commit', id, '--hold', String(ms), ...flags, '--socket', served.socket], 'PAUSED\n', { cwd: t.dir })
}

test('go: PAUSED, then the install; a request sent while held waits and reads the new data', async () => {
  const id = await stage('v2')
  const h = await held(id, 10_000)
  const during = request(served.port, '/label', { keepAlive: false })
  await sleep(300)
  assert.equal(labelOf(live), 'v1', 'nothing installed before the go')
  h.send('go\n')
  const r = await h.done
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'PAUSED\nOK\n')
  assert.equal((await during).json().label, 'v2', 'the request queued during the hold ran on the new file')
  assert.equal(labelOf(live), 'v2')
})

for (const [how, act, ms] of [
  ['an "abort" line', (h: Awaited<ReturnType<typeof held>>) => { h.send('abort\n') }, 10_000],
  ['the end of its input', (h: Awaited<ReturnType<typeof held>>) => { h.end() }, 10_000],
  ['the hold timing out', () => {}, 800],
  ['its client killed', (h: Awaited<ReturnType<typeof held>>) => { h.kill() }, 10_000],
] as const) {
  test(`${how}: every worker resumes on the old file, nothing changed, the stage stays`, async () => {
    const before = labelOf(live)
    const id = await stage(`${before}-next`)
    const h = await held(id, ms)
    const during = request(served.port, '/label', { keepAlive: false })
    act(h)
    const r = await h.done
    if (how !== 'its client killed') {
      assert.equal(r.code, 1)
      assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_ABORTED\] the commit of live was held paused and not told to go/)
    }
    const res = await during
    assert.equal(res.status, 200)
    assert.equal(res.json().label, before, 'the queued request ran on the old file')
    assert.equal(labelOf(live), before)
    const history = JSON.parse((await cli(['history', '--json', '--socket', served.socket], { cwd: t.dir })).stdout.toString()) as { databases: Array<{ staged: Array<{ id: string }> }> }
    assert.deepEqual(history.databases[0]?.staged.map((s) => s.id), [id], 'the stage is still staged')
    const aborted = await cli(['abort', id, '--socket', served.socket], { cwd: t.dir })
    assert.equal(aborted.code, 0, aborted.stderr)
  })
}

test('--hold takes milliseconds: anything else is a usage error, exit 2', async () => {
  for (const bad of ['0', 'x', '-1', '600001']) {
    const r = await cli(['commit', 'abcd1234', '--hold', bad, '--socket', served.socket], { cwd: t.dir })
    assert.equal(r.code, 2, `--hold ${bad}: ${r.stderr}`)
    assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\]/)
  }
})

test('refused before its pause (an unknown stage), a held commit exits at once although its stdin stays open', { timeout: 20_000 }, async () => {
  // The client kept reading a stdin that never ends after the reply, and never exited.
  const h = await held('0badc0de', 10_000)
  const r = await h.done
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_UNKNOWN_STAGE\]/)
})

test('--ready: READY before anything is paused; a "start" line then pauses (PAUSED), a go installs; an end of input before the start pauses nothing', async () => {
  const id = await stage('ready-v')
  const child = spawn(process.execPath, [BIN, 'commit', id, '--hold', '10000', '--ready', '--socket', served.socket], { cwd: t.dir, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const seen = async (line: string): Promise<void> => { await waitUntil(line.trim(), () => stdout.includes(line), 10_000) }
  const done = new Promise<number | null>((resolve) => child.on('close', resolve))
  await seen('READY\n')
  await sleep(200)
  assert.equal(stdout, 'READY\n', 'nothing paused before the start line')
  assert.equal((await request(served.port, '/label', { keepAlive: false })).json().label, labelOf(live), 'a request is served at once: no pause yet')
  child.stdin.write('start\n')
  await seen('PAUSED\n')
  child.stdin.write('go\n')
  assert.equal(await done, 0, stderr)
  assert.equal(stdout, 'READY\nPAUSED\nOK\n')
  assert.equal(labelOf(live), 'ready-v')

  const next = await stage('ready-w')
  const ended = await cli(['commit', next, '--hold', '10000', '--ready', '--socket', served.socket], { cwd: t.dir })
  assert.equal(ended.code, 1)
  assert.equal(ended.stdout.toString(), 'READY\n')
  assert.match(ended.stderr, /^ERROR \[HOTSWAP_ERR_ABORTED\] the held commit of live was ready and not told to start .*nothing was paused or changed, the stage stays/)
  assert.equal(labelOf(live), 'ready-v')
  assert.deepEqual(intents(), [], 'the intent written before READY is removed')
  assert.equal((await cli(['abort', next, '--socket', served.socket], { cwd: t.dir })).code, 0)
})

/** The commit intents in the live database's .hotswap folder. */
function intents (): string[] {
  return readdirSync(join(dirname(live), '.hotswap', basename(live))).filter((f) => /^intent-/.test(f))
}

test('--ready: READY comes once everything but the pause is done: a refused commit never prints it, a ready one has its intent written', async () => {
  // READY used to be printed by the CLI before it even connected: the lock, the stage's checks,
  // the /proc scan and the intent's fsync came after the start line, and every fleet host's
  // pause began after its own share of that work.
  const refused = await cli(['commit', '0badc0de', '--hold', '10000', '--ready', '--socket', served.socket], { cwd: t.dir, input: Buffer.from('start\ngo\n') })
  assert.equal(refused.code, 1)
  assert.equal(refused.stdout.toString(), '', 'no READY for a commit refused by its checks')
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_UNKNOWN_STAGE\]/)

  const id = await stage('ready-intent')
  const h = await cliUntil(['commit', id, '--hold', '10000', '--ready', '--socket', served.socket], 'READY\n', { cwd: t.dir })
  assert.equal(intents().length, 1, 'the intent is on disk when READY is printed')
  h.send('start\n')
  await waitUntil('PAUSED', () => h.stdout().includes('PAUSED\n'), 10_000)
  h.send('go\n')
  const r = await h.done
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'READY\nPAUSED\nOK\n')
  assert.equal(labelOf(live), 'ready-intent')
  assert.deepEqual(intents(), [])
})

test('--ready: "clock" answers the host\'s clock; "start T" pauses at the instant T of it, not before; a start line it cannot read pauses nothing', async () => {
  const id = await stage('at-instant')
  const before = labelOf(live)
  const h = await cliUntil(['commit', id, '--hold', '10000', '--ready', '--socket', served.socket], 'READY\n', { cwd: t.dir })
  h.send('clock\n')
  await waitUntil('CLOCK', () => /CLOCK \d+\.\d+ \d+\.\d+\n/.test(h.stdout()), 10_000)
  const [, clock, scan] = /CLOCK (\d+\.\d+) (\d+\.\d+)\n/.exec(h.stdout()) ?? []
  const hostClock = Number(clock)
  assert.ok(Number(scan) > 0, `the outside-holder scan's time: ${scan ?? '?'} ms`)
  assert.ok(Math.abs(hostClock - Date.now()) < 1000, `the host's clock (one machine here): ${hostClock} vs ${Date.now()}`)
  const at = hostClock + 600
  h.send(`start ${at.toFixed(3)}\n`)
  // Before the instant nothing is paused: a request is answered on the old file at once.
  const r0 = await request(served.port, '/label', { keepAlive: false })
  assert.ok(Date.now() < at, 'the request came back before the instant')
  assert.equal(r0.json().label, before)
  await waitUntil('PAUSED', () => h.stdout().includes('PAUSED\n'), 10_000)
  h.send('go\n')
  const r = await h.done
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^READY\nCLOCK \d+\.\d+ \d+\.\d+\nPAUSED\nOK\n$/)
  const w = lastPauseWindow()
  const began = (w.resumedAt as number) - (w.pauseMs as number)
  assert.ok(began >= at - 0.01, `the pause began at ${began.toFixed(3)}, not before the instant ${at.toFixed(3)}`)
  assert.ok(began < at + 300, `the pause began ${(began - at).toFixed(1)} ms after the instant`)
  assert.equal(labelOf(live), 'at-instant')

  const next = await stage('unreadable-start')
  const u = await cliUntil(['commit', next, '--hold', '10000', '--ready', '--socket', served.socket], 'READY\n', { cwd: t.dir })
  u.send('start soon\n')
  const ur = await u.done
  assert.equal(ur.code, 1)
  assert.match(ur.stderr, /^ERROR \[HOTSWAP_ERR_ABORTED\] the held commit of live was ready and not told to start/)
  assert.equal(labelOf(live), 'at-instant')
  assert.deepEqual(intents(), [])
  assert.equal((await cli(['abort', next, '--socket', served.socket], { cwd: t.dir })).code, 0)
})

test('--ready: a process that opens the live file after READY is found by the scan made at the start: refused, nothing paused, the stage stays', async () => {
  // The scan ran before READY only: an outside connection opened while every host got ready
  // went unseen (an idle one is not busy for the quiesce either), and the file was replaced under it.
  const id = await stage('outsider-after-ready')
  const before = labelOf(live)
  const h = await cliUntil(['commit', id, '--hold', '10000', '--ready', '--socket', served.socket], 'READY\n', { cwd: t.dir })
  const outsider = spawn(process.execPath, [fixture('outsider.mjs'), live], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    let replies = ''
    outsider.stdout.on('data', (c: Buffer) => { replies += c.toString() })
    outsider.stdin.write('open\nquery\n')
    await waitUntil('the outsider open and read', () => replies.includes('"cmd":"query"'), 10_000)
    h.send('start\n')
    const r = await h.done
    assert.equal(r.code, 1)
    assert.equal(r.stdout, 'READY\n', 'nothing paused')
    assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_DB_BUSY\] another process has .*live\.sqlite3 open: pid \d+/)
  } finally {
    outsider.kill('SIGKILL')
    await new Promise((resolve) => outsider.once('close', resolve))
  }
  assert.equal(labelOf(live), before)
  assert.deepEqual(intents(), [])
  assert.equal((await cli(['abort', id, '--socket', served.socket], { cwd: t.dir })).code, 0, 'the stage stayed')
})

test('--ready without a start within the hold: nothing paused, the intent removed, the stage stays', async () => {
  const id = await stage('ready-timeout')
  const before = labelOf(live)
  const h = await cliUntil(['commit', id, '--hold', '700', '--ready', '--socket', served.socket], 'READY\n', { cwd: t.dir })
  const r = await h.done
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_ABORTED\] the held commit of live was ready and not told to start \(told to abort, its input ended, or 700 ms passed\)/)
  assert.equal(r.stdout, 'READY\n')
  assert.equal(labelOf(live), before)
  assert.deepEqual(intents(), [])
  assert.equal((await request(served.port, '/label', { keepAlive: false })).json().label, before)
  assert.equal((await cli(['abort', id, '--socket', served.socket], { cwd: t.dir })).code, 0, 'the stage stayed')
})

test('--ready without --hold is a usage error, exit 2, on the socket too', async () => {
  const r = await cli(['commit', 'abcd1234', '--ready', '--socket', served.socket], { cwd: t.dir })
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] --ready goes with --hold MS/)
})

/** The primary's "pause window" line of the last commit. */
function lastPauseWindow (): Record<string, unknown> & { timings: Record<string, number> } {
  const line = served.logs().filter((l) => String(l.message).startsWith('pause window')).at(-1)
  assert.ok(line !== undefined, 'a pause window line')
  return line as Record<string, unknown> & { timings: Record<string, number> }
}

test('a held commit empties a live WAL that holds frames while it waits: at the go only the links, renames and directory fsync are left', async () => {
  const id = await stage('quiesced-v')
  // Its frames stay in the -wal through the pause: the workers' last close cannot checkpoint
  // beside its open connection (--force lets the commit run beside it).
  const writer = await outsider('frames-before')
  const h = await held(id, 10_000, ['--force'])
  await writer.kill()
  h.send('go\n')
  assert.equal((await h.done).code, 0)
  assert.equal(lastPauseWindow().timings.quiescedBeforeHold, 1, 'the file quiesced before the hold was not again at the go')
  assert.equal(labelOf(live), 'quiesced-v')
})

/**
 * An outside writer with committed frames in the live -wal and its connection open (no
 * checkpoint); `kill` SIGKILLs it, which never checkpoints.
 */
async function outsider (label: string): Promise<{ kill: () => Promise<void> }> {
  const writer = spawn(process.execPath, [fixture('wal-writer.mjs'), live, label, '50'], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    writer.stdout.on('data', (d: Buffer) => { if (d.toString().startsWith('ready')) resolve() })
    writer.once('exit', (code) => reject(new Error(`wal-writer exited ${String(code)}`)))
  })
  assert.ok(statSync(`${live}-wal`).size > 0, 'frames in the -wal')
  return {
    kill: async () => {
      writer.kill('SIGKILL')
      await new Promise((resolve) => writer.once('close', resolve))
    },
  }
}

test('a write by another process during the hold is emptied again at the go: the new file goes live whole, none of those rows in it', async () => {
  const id = await stage('after-outsider')
  const first = await outsider('before-hold') // so that the held commit quiesces before its hold
  const h = await held(id, 10_000, ['--force'])
  await first.kill()
  // Its committed frames stay in the -wal (no checkpoint), and it dies without one.
  await (await outsider('stale')).kill()
  h.send('go\n')
  const r = await h.done
  assert.equal(r.code, 0, r.stderr)
  assert.equal(lastPauseWindow().timings.quiescedBeforeHold, 0, 'a -wal came back: quiesced again at the go')
  assert.equal(labelOf(live), 'after-outsider')
  assert.deepEqual(integrity(live), ['ok'])
  const res = await request(served.port, '/label', { keepAlive: false })
  assert.equal(res.json().label, 'after-outsider')
})
