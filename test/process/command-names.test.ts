// One control frame must never take the service down. Every Object.prototype
// name as a command, as a flag of each command and as a cp side, and `args` of every wrong JSON
// type, are each answered on their own connection with a coded error, under HTTP load; the
// primary and every worker (same pids) are still alive and serving afterwards. Before the fix,
// {"args":["constructor"]} made the primary throw inside a socket listener and exit.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes } from '../../src/shared/errors.js'
import { commands } from '../../src/primary/control/commands/index.js'
import { exchange, type Exchange, fixture, frame, isAlive, labelOf, push, report, request, seed, type Served, serveLiveForFile, status, tempDir, TrackedLoad } from '../support/index.js'
import { COMMANDS, HOSTILE_WORDS, PROTOTYPE_NAMES, WRONG_ARGS } from '../hostile-words.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs') }, (s) => { ({ t, served, live } = s) })

async function send (control: unknown, stdinEnd = false): Promise<Exchange> {
  const bytes = Buffer.concat([frame(3, JSON.stringify(control)), ...(stdinEnd ? [frame(0, Buffer.alloc(0))] : [])])
  return await exchange(served.socket, bytes, { timeoutMs: 10_000 })
}

test('the command table has no entry for any Object.prototype name', () => {
  for (const name of PROTOTYPE_NAMES) assert.equal(commands.get(name), undefined, name)
  assert.deepEqual([...commands.keys()].sort(), [...COMMANDS].sort())
})

test('prototype names and hostile words as commands, flags and paths: each answered, nothing dies', { timeout: 120_000 }, async (tt) => {
  const before = await status(served.socket)
  const workerPids = before.workers.map((w) => w.pid).sort()
  assert.equal(workerPids.length, 2)
  const cases: Array<{ control: unknown, stdinEnd: boolean, want?: { exit: number, code: string } }> = []
  for (const w of HOSTILE_WORDS) {
    const unknown = { exit: 2, code: 'HOTSWAP_ERR_USAGE' }
    if (!COMMANDS.includes(w)) cases.push({ control: { args: [w], tty: false }, stdinEnd: false, want: unknown })
    cases.push({ control: { args: ['status', w], tty: false }, stdinEnd: false, ...(w === '--json' ? {} : { want: unknown }) })
    cases.push({ control: { args: ['help', w], tty: false }, stdinEnd: false, ...(COMMANDS.includes(w) ? {} : { want: unknown }) })
    // (`logs --follow` follows until the client goes: answered by the logs tests.)
    if (w !== '--follow') cases.push({ control: { args: ['logs', w], tty: false }, stdinEnd: false, ...(w === '--json' ? {} : { want: unknown }) })
    // (`reload --parallel=2` is a real reload: it would replace the workers.)
    if (w !== '--parallel=2') cases.push({ control: { args: ['reload', w], tty: false }, stdinEnd: false, want: unknown })
    cases.push({ control: { args: ['cp', '-', 'live.sqlite3', w], tty: false }, stdinEnd: true })
    cases.push({ control: { args: ['cp', w, '-'], tty: false }, stdinEnd: true })
    cases.push({ control: { args: ['cp', w, 'live.sqlite3'], tty: false, protocol: 1 }, stdinEnd: true })
    // The fields our client adds, with the same words in them.
    cases.push({ control: { args: ['status'], tty: w, protocol: w, cwd: w, source: { dev: w, ino: w } }, stdinEnd: false })
  }
  for (const args of WRONG_ARGS) {
    cases.push({ control: args === undefined ? { tty: false } : { args, tty: false }, stdinEnd: false })
  }
  cases.push({ control: JSON.parse('{"__proto__":{"args":["cp","-","live.sqlite3"]},"args":["constructor"]}'), stdinEnd: true, want: { exit: 2, code: 'HOTSWAP_ERR_USAGE' } })

  const problems: string[] = []
  const load = new TrackedLoad(served.port, { concurrency: 2, paths: ['/label'] })
  let next = 0
  const one = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++] as typeof cases[number]
      const r = await send(c.control, c.stdinEnd)
      const what = JSON.stringify(c.control).slice(0, 120)
      if (r.timedOut || r.control === null) problems.push(`${what}: no reply (${r.stderr.slice(0, 100)})`)
      else if (c.want !== undefined && (r.control.exit !== c.want.exit || r.control.code !== c.want.code)) problems.push(`${what}: answered ${JSON.stringify(r.control)}`)
      else if (r.control.exit !== 0 && !(String(r.control.code) in ErrorCodes)) problems.push(`${what}: unknown code ${JSON.stringify(r.control)}`)
      else if (r.control.code === 'HOTSWAP_ERR_INTERNAL') problems.push(`${what}: internal error ${r.stderr}`)
      if (served.child.exitCode !== null) problems.push(`the primary exited after ${what}`)
      if (problems.length > 10) return
    }
  }
  try {
    await Promise.all(Array.from({ length: 8 }, one))
  } finally {
    await load.stop()
  }
  assert.deepEqual(problems, [])
  assert.deepEqual(load.unexplained(), [], `no HTTP request failed (${load.summary()})`)

  // Still the same primary and the same workers, serving.
  assert.equal(served.child.exitCode, null, 'the primary is running')
  assert.ok(isAlive(served.pid))
  const after = await status(served.socket)
  assert.deepEqual(after.workers.map((w) => w.pid).sort(), workerPids, 'no worker was replaced')
  for (const pid of workerPids) assert.ok(isAlive(pid), `worker ${pid} is alive`)
  const seen = new Set<number>()
  for (let i = 0; i < 100 && seen.size < 2; i++) {
    const res = await request(served.port, '/label', { keepAlive: false })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.json().label, 'v0')
    seen.add(Number(res.json().pid))
  }
  assert.equal(seen.size, 2, 'both workers answer')
  const src = join(t.dir, 'after.sqlite3')
  seed(src, { label: 'after-words' })
  const pushed = await push(served.socket, readFileSync(src))
  assert.equal(pushed.control?.exit, 0, pushed.stderr)
  assert.equal(labelOf(live), 'after-words')
  report(tt, 'hostile command names', { faults: cases.length, survived: cases.length, lost: 0, tempLeft: 0, requestsOk: load.ok, requestsFailed: load.failures.length })
})
