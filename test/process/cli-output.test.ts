// cp's progress display on a real pseudo-terminal (util-linux
// `script`) and its silence off one, --help with examples for every command, status --json and
// version --json. (Completion: shell-completion.test.ts; -h and usage errors: usage-errors.test.ts.)

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cli, HOTSWAP, labelOf, onTerminal as onTerminalIn, seed, type Served, serveLiveForFile, statusJson, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 1, prepare: (s) => {
    ({ t, live } = s)
    seed(join(t.dir, 'v1.sqlite3'), { label: 'v1', rows: 20_000 })
    seed(join(t.dir, 'v2.sqlite3'), { label: 'v2', rows: 20_000 })
  } }, (s) => { ({ t, served, live } = s) })

const hotswap = HOTSWAP
const onTerminal = async (commandLine: string): Promise<{ code: number | null, output: string }> => await onTerminalIn(commandLine, { cwd: t.dir })

test('on a terminal, a push shows the transfer, then the phases validating, swapping, done', async () => {
  // From stdin, so the bytes cross the socket (a local FILE is copied by the server itself).
  const { code, output } = await onTerminal(`${hotswap} cp - live.sqlite3 --socket '${served.socket}' < v1.sqlite3`)
  assert.equal(code, 0, output)
  // What is left on screen: the last redraw of each line, without the erase-line sequences.
  const lines = output.split(/\r?\n/).map((l) => (l.split('\r').at(-1) as string).replace(/\x1b\[K/g, ''))
  const at = (re: RegExp): number => {
    const i = lines.findIndex((l) => re.test(l))
    assert.notEqual(i, -1, `no line matches ${String(re)} in ${JSON.stringify(output)}`)
    return i
  }
  // The live line was drawn (with its size known: a file) and then replaced by the summary.
  assert.match(output, /\rpush [\d.]+ (B|KiB|MiB) \/ [\d.]+ (KiB|MiB) \(\d+%\)/)
  const order = [
    at(/^push [\d.]+ (KiB|MiB) in [\d.]+ s \([\d.]+ (KiB|MiB|GiB)\/s\)$/),
    at(/^received [\d.]+ (KiB|MiB), validating…$/),
    at(/^checks passed, swapping…$/),
    at(/^swapped live: pause [\d.]+ ms across 1 worker\(s\)$/),
    at(/^OK$/),
    at(/^done in [\d.]+ s$/),
  ]
  assert.deepEqual([...order].sort((a, b) => a - b), order, `phases out of order: ${JSON.stringify(output)}`)
  assert.equal(labelOf(live), 'v1')
})

test('on a terminal, a push of a local file shows the phases and no transfer: the server copied it', async () => {
  const logStart = served.logs().length
  const { code, output } = await onTerminal(`${hotswap} cp v2.sqlite3 live.sqlite3 --socket '${served.socket}'`)
  assert.equal(code, 0, output)
  assert.doesNotMatch(output, /push [\d.]+ (B|KiB|MiB)/, 'no byte was streamed')
  assert.match(output, /received [\d.]+ (KiB|MiB), validating…\r\nchecks passed, swapping…\r\nswapped live: pause [\d.]+ ms across 1 worker\(s\)\r\nOK\r\ndone in [\d.]+ s\r\n$/)
  assert.equal(labelOf(live), 'v2')
  const commands = served.logs().slice(logStart).map((l) => String(l.message)).filter((m) => m.startsWith('command: cp'))
  assert.deepEqual(commands, [`command: cp ${join(t.dir, 'v2.sqlite3')} live.sqlite3`], 'the client sent the path, not the bytes')
  // Back to v1 for the next test.
  const back = await cli(['cp', 'v1.sqlite3', 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(back.code, 0, back.stderr)
})

test('on a terminal, a pull to stdout shows the snapshot and the transfer; stdout holds only the database', async () => {
  const { code, output } = await onTerminal(`${hotswap} cp live - --socket '${served.socket}' > pulled.sqlite3`)
  assert.equal(code, 0, output)
  assert.match(output, /snapshot of live: [\d.]+ (KiB|MiB)\r\n/)
  assert.match(output, /\r\x1b\[Kpull [\d.]+ (KiB|MiB) in [\d.]+ s \([\d.]+ (KiB|MiB|GiB)\/s\)\r\n/)
  assert.match(output, /done in [\d.]+ s\r\n$/)
  assert.equal(labelOf(join(t.dir, 'pulled.sqlite3')), 'v1')
})

test('off a terminal, push and pull print nothing on stderr (OK only for a push or a pull to a file)', async () => {
  const pushed = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: t.dir, input: readFileSync(join(t.dir, 'v2.sqlite3')) })
  assert.equal(pushed.code, 0, pushed.stderr)
  assert.equal(pushed.stderr, '')
  assert.equal(pushed.stdout.toString(), 'OK\n')
  const toStdout = await cli(['cp', 'live', '-', '--socket', served.socket], { cwd: t.dir })
  assert.equal(toStdout.code, 0, toStdout.stderr)
  assert.equal(toStdout.stderr, '')
  writeFileSync(join(t.dir, 'stdout.sqlite3'), toStdout.stdout)
  assert.equal(labelOf(join(t.dir, 'stdout.sqlite3')), 'v2')
  const toFile = await cli(['cp', live, 'file.sqlite3', '--socket', served.socket], { cwd: t.dir })
  assert.equal(toFile.code, 0, toFile.stderr)
  assert.equal(toFile.stderr, '')
  assert.equal(toFile.stdout.toString(), 'OK\n')
})

test('status --json and version --json print one JSON document', async () => {
  const status = await statusJson(served.socket, t.dir)
  assert.equal(status.primary.pid, served.pid)
  assert.equal(status.workers.length, 1)
  assert.deepEqual(status.databases.map((d) => d.name), ['live'])
  assert.ok(status.databases[0]!.swaps >= 1)
  const version = await cli(['version', '--json'], { cwd: t.dir })
  assert.equal(version.code, 0, version.stderr)
  const v = JSON.parse(version.stdout.toString()) as { version: string, node: string }
  const pkg = JSON.parse(readFileSync(join(BIN, '..', '..', 'package.json'), 'utf8')) as { version: string }
  assert.equal(v.version, pkg.version)
  assert.equal(v.node, process.version)
  assert.equal(status.primary.version, pkg.version)
  // What lets `cp FILE LIVE` send a path: same user, mount namespace and root as this test.
  const root = statSync('/')
  assert.deepEqual([status.primary.uid, status.primary.mountNamespace, status.primary.root],
    [process.getuid?.(), readlinkSync('/proc/self/ns/mnt'), `${root.dev}:${root.ino}`])
})

test('every command has --help with examples', async () => {
  const commands = ['serve', 'cp', 'status', 'reload', 'version', 'autocomplete']
  const helps = await Promise.all(commands.map(async (c) => await cli([c, '--help'], { cwd: t.dir })))
  helps.forEach((h, i) => {
    const c = commands[i] as string
    const text = h.stdout.toString()
    assert.equal(h.code, 0, `${c} --help: ${h.stderr}`)
    assert.match(text, new RegExp(`USAGE\\n\\s+\\$ hotswap ${c}`), `${c} --help has a usage line`)
    assert.match(text, new RegExp(`EXAMPLES\\n\\s+\\$ hotswap ${c}`), `${c} --help has examples`)
  })
})
