// `--workers max` in a cgroup with a CPU quota of one CPU starts one worker, not one per core
// of the host (a container run with `--cpus 1` on a 16-core host ran 16 workers on one CPU's
// time). The server runs inside a real cgroup made for the test (v1's cpu controller, or v2's
// cpu.max), which needs root, two cores and a writable cgroup mount, as the project's machines have (CI
// runs as root): elsewhere the test fails saying what is missing rather than passing unseen.
// test/primary/cpu-quota.test.ts covers the reading of the files.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { BIN, fixture, freePort, seed, type Served, sleep, startServeArgs, statusJson, tempDir } from '../support/index.js'

const CGROUP = '/sys/fs/cgroup'
const t = tempDir()
let cgroup: string | undefined
let served: Served | undefined

after(async () => {
  await served?.stop()
  // The cgroup can be removed once every process in it has exited.
  for (let i = 0; cgroup !== undefined && i < 100; i++) {
    try {
      rmdirSync(cgroup)
      break
    } catch { await sleep(50) }
  }
  t.cleanup()
})

/** A new cgroup limited to one CPU (50 ms of every 100 ms), or why one cannot be made here. */
function oneCpuCgroup (): string {
  const name = `hotswap-test-${process.pid}`
  const v1 = join(CGROUP, 'cpu')
  try {
    if (existsSync(join(v1, 'cpu.cfs_quota_us'))) {
      const dir = join(v1, name)
      mkdirSync(dir)
      cgroup = dir
      writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000')
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '50000')
      return dir
    }
    if (readFileSync(join(CGROUP, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('cpu')) {
      const dir = join(CGROUP, name)
      mkdirSync(dir)
      cgroup = dir
      writeFileSync(join(dir, 'cpu.max'), '50000 100000')
      return dir
    }
  } catch (err) {
    return `no cgroup can be made here: ${(err as Error).message}`
  }
  return 'no writable cgroup cpu controller here'
}

test('--workers max in a cgroup with a one-CPU quota starts 1 worker on a host with more cores', async () => {
  assert.ok(availableParallelism() >= 2, 'this test needs two cores: with one, the quota changes nothing')
  const dir = oneCpuCgroup()
  assert.ok(dir.startsWith('/'), dir)
  // Joins the cgroup before anything else runs; its workers are forked inside it.
  const entry = join(t.dir, 'in-cgroup.mjs')
  writeFileSync(entry, `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(join(dir, 'cgroup.procs'))}, String(process.pid))\nawait import(${JSON.stringify(BIN)})\n`)
  const live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  const port = await freePort()
  const socket = join(t.dir, 'sock', 'hotswap.sock')
  served = await startServeArgs({
    dir: t.dir,
    bin: entry,
    args: [fixture('app.mjs'), '--workers', 'max', '--db', live, '--port', String(port), '--socket', socket],
    port,
    socket,
    waitListening: 1,
  })
  const started = await served.waitForLog(/serving .* with \d+ worker/)
  assert.match(String(started.message), /with 1 worker\(s\)/)
  const status = await statusJson(socket, t.dir)
  assert.equal(status.workers.length, 1, 'one worker, for one CPU of quota')
  assert.equal(await served.stop(), 0)
})
