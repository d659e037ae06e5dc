// A pull destination the gem's client sends as typed may name one of the server's own open
// files: `/dev/fd/N` (a shell's `>(gzip > backup.gz)`) is the server's descriptor N there. The
// server renamed the snapshot over its own --log-file (logging on into the unlinked old one),
// or wrote it into a pipe the server reads (a worker's output, or one of Node's own: in this
// test's run of the unfixed server the primary died without a reply). Both are refused as
// usage errors, with nothing written.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { exchange, gemStream, labelOf, leftovers, request, seedAll, type Served, serveForFile, startServe, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let logFile: string

serveForFile(async (t) => {
  ;({ live } = seedAll(t.dir, { live: 'v0' }))
  logFile = join(t.dir, 'server.log')
  return await startServe({ dir: t.dir, dbs: [live], workers: 1, args: ['--log-file', logFile] })
}, (s) => { ({ t, served } = s) })

/** The primary's descriptors: number, what it links to, and its open flags (fdinfo). */
function primaryFds (): Array<{ fd: string, target: string, flags: number }> {
  const dir = `/proc/${served.pid}/fd`
  return readdirSync(dir).flatMap((fd) => {
    try {
      const target = readlinkSync(join(dir, fd))
      const info = readFileSync(`/proc/${served.pid}/fdinfo/${fd}`, 'utf8')
      const flags = parseInt(/flags:\s*([0-7]+)/.exec(info)?.[1] ?? '0', 8)
      return [{ fd, target, flags }]
    } catch { return [] }
  })
}

async function refused (dst: string): Promise<void> {
  const r = await exchange(served.socket, gemStream(['cp', 'live', dst]), { timeoutMs: 20_000 })
  assert.equal(r.control?.exit, 2, `${dst}: ${r.stderr}`)
  assert.equal(r.control?.code, 'HOTSWAP_ERR_USAGE', r.stderr)
  assert.match(r.stderr, /the server itself has open/)
}

test('a pull into /dev/fd/N naming the server\'s own --log-file is refused; the log stays the log', async () => {
  const ino = statSync(logFile).ino
  const log = primaryFds().find((f) => f.target === logFile)
  assert.ok(log !== undefined, 'the primary has its log file open')
  await refused(`/dev/fd/${log.fd}`)
  assert.equal(statSync(logFile).ino, ino, 'not renamed over')
  assert.notEqual(readFileSync(logFile).subarray(0, 15).toString('latin1'), 'SQLite format 3')
  assert.deepEqual(leftovers(t.dir), [])
})

test('a pull into /dev/fd/N naming a pipe the server reads is refused; the server serves on', async () => {
  // A pipe the primary reads (O_RDONLY): a worker's stdout or stderr, or one of Node's own.
  const pipe = primaryFds().find((f) => f.target.startsWith('pipe:') && (f.flags & 3) === 0)
  assert.ok(pipe !== undefined, 'the primary reads a worker\'s output through a pipe')
  await refused(`/dev/fd/${pipe.fd}`)
  assert.ok(!served.output().includes('SQLite format 3'), 'no snapshot bytes in the log')
  const r = await request(served.port, '/label')
  assert.equal(r.json().label, 'v0')
  assert.equal(labelOf(live), 'v0')
})
