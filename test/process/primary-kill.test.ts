// The primary SIGKILLed at each step of a push, under HTTP load,
// then `hotswap serve` started again on the same files. The live database is the old file or
// the new one, whole; the killed primary's workers notice the lost IPC channel and exit by
// themselves; the next start removes what the interrupted swap left beside the database (the
// upload's temp file, or the link that kept the old file alive) and logs it.
//
// Timing, step by step (the kill is sent from the handler that sees the log line arrive):
//   receiving        a raw client has sent half an upload and holds it; the temp file exists
//   validating       on "received N bytes" (a 24 MB upload: integrity_check takes ~100+ ms)
//   paused           on a worker's onPause line while the other is held draining by /slow
//   installing       on "paused N worker(s)": the install task has just been handed the file
//   renamed          on "renamed into": workers are held in their onResume hook (3 s)
// The last two lines are debug-level (nothing is logged at info inside the pause window), so
// this server runs with --log-level debug.
//
// Requests: until the kill none may fail. After it, new connections are refused (the listening
// socket belonged to the primary) until the restart; those are counted, not failed. Requests
// on connections the workers own (in flight, or queued by the pause) are answered: an orphaned
// worker reopens the database and finishes them before it exits.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, type Child, fixture, holdRequest, integrity, kill, killedAt as killedAtMap, killSources, labelOf, leftovers, onLog, push, rawClient, relabelledCopy, report, seed, type Served, sleep, startServe, status, tempDir, TrackedLoad, waitGone, waitWorkers } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let sources: { medium: string, big: string }
let n = 0
const clients: Child[] = []
const orphans: number[] = []

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  mkdirSync(join(t.dir, 'src'))
  sources = killSources(join(t.dir, 'src'))
  served = await start()
})

after(async () => {
  for (const c of clients) if (c.proc.exitCode === null && c.proc.signalCode === null) kill(c.proc.pid as number)
  for (const pid of orphans) kill(pid)
  rmSync(join(t.dir, 'resume-delay'), { force: true })
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0, 'the last serve exits 0 on SIGTERM')
})

async function start (): Promise<Served> {
  return await startServe({ dir: t.dir, dbs: [live], workers: 2, app: fixture('faults-app.mjs'), args: ['--log-level', 'debug'] })
}

function candidate (src: string): { path: string, label: string } {
  const label = `push-${++n}`
  return { path: relabelledCopy(src, join(t.dir, 'src', `${label}.sqlite3`), label), label }
}

/**
 * Arms the kill, starts the push, waits for the primary to die; then checks the files, the
 * orphaned workers, the restart and its cleanup. `arm` returns once the kill is armed or done.
 */
async function killPrimary (tt: { diagnostic: (m: string) => void }, step: string, src: string, arm: (s: Served) => Promise<void>): Promise<{ label: string, left: string[] }> {
  const c = candidate(src)
  const old = labelOf(live)
  const victim = served
  const workerPids = (await waitWorkers(victim.socket, 2)).map((w) => w.pid)
  const load = new TrackedLoad(victim.port)
  try {
    await arm(victim)
    await victim.stop() // Already dead: this only waits for the exit.
    assert.equal(victim.child.signalCode, 'SIGKILL', 'the primary was killed')
  } finally {
    await load.stop()
  }
  const killedAt = killedAtMap.get(victim.pid) ?? Infinity
  // Everything before the kill must have succeeded.
  const early = load.failures.filter((f) => f.at < killedAt)
  assert.deepEqual(early, [], 'no request failed before the primary was killed')
  assert.deepEqual(load.bad, [], 'no response mixed old and new data')
  // After it, new connections are refused (the listening socket was the primary's), and a
  // connection the primary had accepted but not yet handed to a worker dies with it. A
  // connection a worker owns must not fail: the orphaned worker finishes its requests, queued
  // ones included, before it exits.
  const late = load.failures.filter((f) => f.at >= killedAt)
  const onWorkers = late.filter((f) => f.pid !== null || f.status !== undefined)
  assert.deepEqual(onWorkers, [], 'no request on a worker\'s connection failed after the kill')

  // The orphaned workers exit on the IPC disconnect by themselves (after finishing what runs).
  const stillAlive = await waitGone(workerPids, 15_000)
  orphans.push(...stillAlive)
  assert.deepEqual(stillAlive, [], 'the killed primary\'s workers exited on their own')

  // The files as the crash left them: whole, old or new.
  assert.deepEqual(integrity(live), ['ok'], 'the live file passes integrity_check after the crash')
  const label = labelOf(live)
  assert.ok(label === old || label === c.label, `the live database is ${label}, expected ${old} or ${c.label}`)
  const left = leftovers(t.dir)

  // Restart on the same files: the leftovers are removed at start, and logged.
  served = await start()
  if (left.length > 0) {
    const line = await served.waitForLog(/removed \d+ file\(s\) left by an interrupted swap/)
    assert.match(String(line.message), new RegExp(`removed ${left.length} file\\(s\\)`))
  }
  assert.deepEqual(leftovers(t.dir), [], 'nothing .hotswap- is left after the restart')
  const after = new TrackedLoad(served.port)
  try {
    const checked = await checkAfterFault({ live, port: served.port, socket: served.socket, allowed: [label] })
    assert.equal(checked.tempLeft, 0)
  } finally {
    await after.stop()
  }
  assert.deepEqual(after.unexplained(), [], `no request failed after the restart (${after.summary()})`)
  tt.diagnostic(`${step}: live is ${label === old ? 'the old' : 'the pushed'} database; left by the crash: ${left.length === 0 ? 'nothing' : left.join(', ')}; ` +
    `load before the kill ${load.ok} ok; after it ${late.length} failed (${[...new Set(late.map((f) => f.error.slice(0, 90)))].join(' | ')})`)
  report(tt, 'primary killed', { faults: 1, survived: 1, lost: 0, tempLeft: leftovers(t.dir).length, requestsOk: load.ok + after.ok, requestsFailed: load.failures.length + after.failures.length })
  return { label, left }
}

test('primary SIGKILLed while receiving an upload', async (tt) => {
  const r = await killPrimary(tt, 'receiving', sources.medium, async (s) => {
    const client = await rawClient(s.socket, join(t.dir, 'src', `push-${n}.sqlite3`), 'middle-boundary')
    clients.push(client)
    for (let i = 0; i < 500 && leftovers(t.dir).length === 0; i++) await sleep(10)
    assert.equal(leftovers(t.dir).length, 1, 'the upload is being received into a temp file')
    kill(s.pid)
  })
  assert.equal(r.label, 'v0')
  assert.equal(r.left.length, 1, 'the half-received temp file was left by the crash')
})

test('primary SIGKILLed while validating (24 MB upload)', async (tt) => {
  const before = labelOf(live)
  const r = await killPrimary(tt, 'validating', sources.big, async (s) => {
    const killed = onLog(s, /^received \d+ bytes for live/, () => kill(s.pid))
    clients.push(await rawClient(s.socket, join(t.dir, 'src', `push-${n}.sqlite3`), 'after-eof'))
    await killed
  })
  assert.equal(r.label, before, 'nothing was installed')
  assert.ok(r.left.length >= 1, 'the temp file was left by the crash')
})

test('primary SIGKILLed while the workers are paused', async (tt) => {
  const before = labelOf(live)
  let held: Awaited<ReturnType<typeof holdRequest>> | undefined
  const r = await killPrimary(tt, 'paused', sources.medium, async (s) => {
    held = await holdRequest(s, '/slow?ms=3000')
    const killed = onLog(s, /^faults-app: paused/, () => kill(s.pid))
    clients.push(await rawClient(s.socket, join(t.dir, 'src', `push-${n}.sqlite3`), 'after-eof'))
    await killed
  })
  assert.equal(r.label, before, 'nothing was installed')
  const slow = await held?.done
  assert.ok(!(slow instanceof Error) && slow?.status === 200, 'the request in flight when the primary died was answered')
})

test('primary SIGKILLed as the install starts', async (tt) => {
  await killPrimary(tt, 'installing', sources.medium, async (s) => {
    const killed = onLog(s, /^paused \d+ worker\(s\)/, () => kill(s.pid))
    clients.push(await rawClient(s.socket, join(t.dir, 'src', `push-${n}.sqlite3`), 'after-eof'))
    await killed
  })
})

test('primary SIGKILLed after the rename, before the workers resumed', async (tt) => {
  writeFileSync(join(t.dir, 'resume-delay'), '3000')
  let r
  try {
    r = await killPrimary(tt, 'renamed, not resumed', sources.medium, async (s) => {
      const killed = onLog(s, /^renamed into /, () => kill(s.pid))
      clients.push(await rawClient(s.socket, join(t.dir, 'src', `push-${n}.sqlite3`), 'after-eof'))
      await killed
      assert.ok(!s.logs().some((l) => /^resumed \d+ worker/.test(String(l.message))), 'no worker had resumed')
    })
  } finally {
    rmSync(join(t.dir, 'resume-delay'), { force: true })
  }
  assert.equal(r.label, `push-${n}`, 'the renamed file is the live database')
  // The old file was linked aside as a kept generation, and the restart finished the commit
  // from its intent record: the manifest says the pushed file is live and keeps the old one.
  const recovered = served.logs().find((l) => l.event === 'recovered')
  assert.equal(recovered?.direction, 'forward', 'the restart finished the interrupted push')
  const manifest = JSON.parse(readFileSync(join(t.dir, '.hotswap', 'live.sqlite3', 'manifest.json'), 'utf8')) as { live: number, generations: Array<{ id: number }> }
  assert.equal(manifest.generations[0]?.id, manifest.live, 'the newest generation is live')
  assert.ok(existsSync(join(t.dir, '.hotswap', 'live.sqlite3', `${manifest.generations[1]?.id}.sqlite3`)), 'the old file is kept')
})

test('after every crash, a push through the restarted server works', async () => {
  const c = candidate(sources.medium)
  const r = await push(served.socket, readFileSync(c.path))
  assert.equal(r.control?.exit, 0, r.stderr)
  assert.equal(labelOf(live), c.label)
  assert.equal((await status(served.socket)).databases[0]?.swaps, 1)
})
