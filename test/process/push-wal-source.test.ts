// `hotswap cp - LIVE < build.sqlite3`, while the builder still has the file
// open in WAL mode, sent the main file's bytes only: the rows still in its -wal were lost with
// every check passing (100 of 1,000 committed rows arrived). stdin redirected from a database
// with a -wal beside it is now read through SQLite, as `cp FILE LIVE` reads it; a WAL-mode file
// on stdin whose path cannot be found is refused. A sibling: `cp LINK LIVE` where LINK is a
// symlink looked for `LINK-wal`, but SQLite keeps the -wal beside the link's target.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, symlinkSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BIN, cli, countItems, exchange, fixture, gemStream, labelOf, leftovers, request, seed, type Served, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
const builders: ChildProcess[] = []

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  served = await startServe({ dir: t.dir, dbs: [live], workers: 1 })
})

after(async () => {
  for (const b of builders) if (b.exitCode === null) b.kill('SIGKILL')
  await served?.stop()
  t?.cleanup()
})

/** A builder process that committed `rows` rows (and the label) into `path`'s -wal and holds it. */
async function buildWithWal (path: string, label: string, rows: number): Promise<ChildProcess> {
  seed(path, { label: 'build-main', rows: 10 })
  const builder = spawn(process.execPath, [fixture('wal-writer.mjs'), path, label, String(rows)], { stdio: ['ignore', 'pipe', 'inherit'] })
  builders.push(builder)
  const line = await new Promise<string>((resolve) => createInterface({ input: builder.stdout! }).once('line', resolve))
  assert.match(line, /^ready \d+/)
  assert.ok(existsSync(`${path}-wal`))
  return builder
}

/**
 * `hotswap cp - live` with stdin redirected from the file at `path` (a regular file, not a pipe).
 * `unlink` removes the file's name once it is open: stdin then has no path to be found by.
 */
async function cpFromFile (path: string, opts: { unlink?: boolean } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const fd = openSync(path, 'r')
  try {
    if (opts.unlink === true) unlinkSync(path)
    const child = spawn(process.execPath, [BIN, 'cp', '-', 'live', '--socket', served.socket], { cwd: t.dir, stdio: [fd, 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    return { code, stdout, stderr }
  } finally {
    closeSync(fd)
  }
}

/**
 * A symlink `t.dir/linkName` to `t.dir/sub/target.sqlite3`, whose builder holds `rows` rows in its
 * -wal: SQLite keeps that -wal beside the target, not beside the link.
 */
async function walBehindLink (sub: string, linkName: string, label: string, rows: number): Promise<string> {
  mkdirSync(join(t.dir, sub))
  const target = join(t.dir, sub, 'target.sqlite3')
  await buildWithWal(target, label, rows)
  const link = join(t.dir, linkName)
  symlinkSync(target, link)
  assert.equal(existsSync(`${link}-wal`), false, 'the -wal is beside the target, not the link')
  return link
}

/** Our own client's snapshots of a -wal source, in the client's temp folder. */
function clientSnapshots (): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('hotswap-push-'))
}

test('cp - LIVE < FILE whose builder still holds 1,000 rows in its -wal: every row arrives', async () => {
  const build = join(t.dir, 'build.sqlite3')
  const builder = await buildWithWal(build, 'build-wal', 1000)
  const before = clientSnapshots()

  const res = await cpFromFile(build)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stdout, 'OK\n')
  assert.equal(countItems(live), 1010, 'the rows in the -wal arrived too')
  assert.equal(labelOf(live), 'build-wal')
  assert.equal((await request(served.port, '/label')).json().label, 'build-wal')
  assert.ok(builder.exitCode === null, 'the builder kept its connection')
  assert.deepEqual(clientSnapshots(), before, 'the client removed its snapshot')
  assert.deepEqual(leftovers(t.dir), [])
})

test('a WAL-mode database on stdin whose path cannot be found is refused, live untouched', async () => {
  const gone = join(t.dir, 'gone.sqlite3')
  seed(gone, { label: 'gone' })
  const res = await cpFromFile(gone, { unlink: true })
  assert.equal(res.code, 1)
  assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_SOURCE\] stdin is a WAL-mode database whose path cannot be found.*hotswap cp FILE LIVE\n$/)
  assert.equal(res.stdout, '')
  assert.equal(labelOf(live), 'build-wal')
})

test('a rollback-journal database on stdin is streamed as before', async () => {
  const plain = join(t.dir, 'plain.sqlite3')
  seed(plain, { label: 'plain', wal: false })
  const res = await cpFromFile(plain, { unlink: true }) // no path either: its bytes are the whole database
  assert.equal(res.code, 0, res.stderr)
  assert.equal((await request(served.port, '/label')).json().label, 'plain')
})

test('cp LINK LIVE, LINK a symlink to a database with rows in its -wal: every row arrives', async () => {
  await walBehindLink('out', 'link.sqlite3', 'linked-wal', 500)
  const res = await cli(['cp', 'link.sqlite3', 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(countItems(live), 510)
  assert.equal((await request(served.port, '/label')).json().label, 'linked-wal')
})

test("the gem's client sending cp LINK LIVE (a server-side path): the rows in the target's -wal arrive too", async () => {
  const link = await walBehindLink('gem', 'gem-link.sqlite3', 'gem-linked-wal', 300)
  const g = await exchange(served.socket, gemStream(['cp', link, 'live']), { timeoutMs: 30_000 })
  assert.equal(g.control?.exit, 0, g.stderr)
  assert.equal(countItems(live), 310, 'every committed row, those in the -wal included')
  assert.equal((await request(served.port, '/label')).json().label, 'gem-linked-wal')
})
