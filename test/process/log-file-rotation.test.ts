// --log-file for logrotate and by size (issue 15, item 4): SIGUSR2 makes the primary open the
// file again by its name after a rename (logrotate's postrotate), what came before staying in the
// renamed file; workers ignore SIGUSR2 (systemctl kill signals them all). --log-max-size and
// --log-max-files rotate it: the live file keeps its name, older ones are NAME1.EXT, NAME2.EXT,
// and no more than --log-max-files are kept, each made of whole JSON lines.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { fixture, isAlive, request, type Served, seed, startServe, statusJson, tempDir, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
const servers: Served[] = []

before(() => { t = tempDir() })
after(async () => {
  for (const s of servers) assert.equal(await s.stop(), 0, 'serve exits 0 on SIGTERM')
  t.cleanup()
})

async function serveIn (name: string, args: string[]): Promise<Served> {
  const dir = join(t.dir, name)
  const live = join(dir, 'live.sqlite3')
  mkdirSync(dir)
  seed(live, { label: 'v0' })
  const s = await startServe({ dir, dbs: [live], workers: 1, app: fixture('log-app.mjs'), args })
  servers.push(s)
  return s
}

const lines = (file: string): Array<Record<string, unknown>> =>
  // Whole lines only: the last one may be being written.
  readFileSync(file, 'utf8').split('\n').slice(0, -1).filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
/** Whether `file` has a record saying `text`; false for a file a rotation just renamed away. */
function says (file: string, text: string): boolean {
  try {
    return lines(file).some((r) => r.message === text)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

test('SIGUSR2 after a rename: the primary opens the log file again, the old records stay in the renamed one', async () => {
  const s = await serveIn('reopen', ['--log-file', 'log/hotswap.log'])
  const file = join(s.dir, 'log', 'hotswap.log')
  const rotated = `${file}.1`
  assert.equal((await request(s.port, '/say?text=before-rotation', { keepAlive: false })).status, 200)
  await waitUntil('the line in the log file', () => says(file, 'before-rotation'))
  renameSync(file, rotated)

  const workers = (await statusJson(s.socket, s.dir)).workers.map((w) => w.pid)
  // As `systemctl kill -s USR2` does: every process of the service.
  for (const pid of [s.pid, ...workers]) process.kill(pid, 'SIGUSR2')
  await s.waitForLog(/^SIGUSR2: reopened the log file /)
  assert.equal((await request(s.port, '/say?text=after-rotation', { keepAlive: false })).status, 200)
  await waitUntil('the line in the new log file', () => says(file, 'after-rotation'))

  assert.ok(says(rotated, 'before-rotation'))
  assert.equal(says(rotated, 'after-rotation'), false, 'nothing new goes to the renamed file')
  assert.equal(says(file, 'before-rotation'), false)
  assert.ok(lines(file).some((r) => r.event === 'log-reopen'))
  for (const pid of workers) assert.ok(isAlive(pid), `worker ${pid} ignored SIGUSR2`)
  assert.deepEqual((await statusJson(s.socket, s.dir)).workers.map((w) => w.pid), workers, 'no worker was replaced')
})

test('--log-max-size 4k --log-max-files 3: rotated by size, the live name kept, three files at most', async () => {
  const s = await serveIn('rotate', ['--log-file', 'log/hotswap.log', '--log-max-size', '4k', '--log-max-files', '3'])
  const dir = join(s.dir, 'log')
  // The files as they are now (a rotation renames them as records come).
  const inSome = (text: string): boolean => readdirSync(dir).some((f) => says(join(dir, f), text))
  // About 6 KiB of records a round, ten rounds: the file reaches 4 KiB many times over.
  for (let i = 0; i < 10; i++) {
    assert.equal((await request(s.port, '/spam?n=20&size=200', { keepAlive: false })).status, 200)
    assert.equal((await request(s.port, `/say?text=round-${i}`, { keepAlive: false })).status, 200)
    await waitUntil(`round ${i} in the log`, () => inSome(`round-${i}`))
  }
  const files = readdirSync(dir).sort()
  assert.deepEqual(files, ['hotswap.log', 'hotswap1.log', 'hotswap2.log'])
  for (const f of files) assert.ok(lines(join(dir, f)).length > 0, `${f} holds whole JSON lines`)
  // The newest rotated file holds records older than the live file's, newer than the oldest's.
  const first = (f: string): number => Date.parse(String(lines(join(dir, f))[0]?.timestamp))
  assert.ok(first('hotswap2.log') <= first('hotswap1.log') && first('hotswap1.log') <= first('hotswap.log'))
})
