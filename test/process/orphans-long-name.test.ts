// A database whose name is longer than 200 bytes gets temp names with a cut prefix
// (`.<cut>~<digest>.hotswap-`). The cut was made in UTF-16 units, so a name of emoji (or any
// character outside the BMP) could end the prefix in half a surrogate pair: on disk that half
// became U+FFFD, the prefix no longer matched the names readdir returns, and the upload of a
// killed primary (a whole copy of the database) was never cleaned up by the next one.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { exchange, frame, gemStream, isAlive, labelOf, request, seed, type Served, sleep, startServe, tempDir, waitUntil, type StatusReport } from '../support/index.js'

let t: ReturnType<typeof tempDir>
const servers: Served[] = []
const workerPids: number[] = []

before(() => { t = tempDir() })

after(async () => {
  for (const pid of workerPids.filter(isAlive)) process.kill(pid, 'SIGKILL')
  for (const s of servers) await s.stop()
  t?.cleanup()
})

const uploads = (): string[] => readdirSync(t.dir).filter((n) => n.includes('.hotswap-') && n.endsWith('.tmp'))

test('the upload a killed primary left beside a database with a long emoji name is removed by the next serve', async () => {
  const name = `abc${'😀'.repeat(60)}.db` // 246 bytes
  const live = join(t.dir, name)
  seed(live, { label: 'v0' })
  const first = await startServe({ dir: t.dir, dbs: [live], workers: 1 })
  servers.push(first)
  const st = await exchange(first.socket, gemStream(['status', '--json']))
  for (const w of (JSON.parse(st.stdout.toString('utf8')) as StatusReport).workers) workerPids.push(w.pid)

  // Half an upload in the gem's framing: its temp file waits beside the database.
  const next = join(t.dir, 'next.sqlite3')
  seed(next, { label: 'v1', rows: 2000 })
  const bytes = readFileSync(next)
  const client = net.connect(first.socket)
  client.on('error', () => {})
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  client.write(Buffer.concat([frame(3, JSON.stringify({ args: ['cp', '-', live], tty: false })), frame(0, bytes.subarray(0, bytes.length >> 1))]))
  await waitUntil('the upload\'s temp file', () => uploads().length === 1)

  process.kill(first.pid, 'SIGKILL')
  await first.stop()
  client.destroy()
  for (let i = 0; i < 250 && workerPids.some(isAlive); i++) await sleep(20)
  for (const pid of workerPids.filter(isAlive)) process.kill(pid, 'SIGKILL')
  assert.equal(uploads().length, 1, 'the killed primary left its upload')

  const second = await startServe({ dir: t.dir, dbs: [live], workers: 1 })
  servers.push(second)
  assert.equal(second.child.exitCode, null, second.output())
  assert.deepEqual(uploads(), [], 'the next serve removed the orphan')
  assert.equal((await request(second.port, '/label')).json().label, 'v0')
  assert.equal(labelOf(live), 'v0')
})
