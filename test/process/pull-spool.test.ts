// A pull must not need a whole copy's space on the production
// volume. `cp LIVE -` used to write its snapshot beside the live file: on a half-full volume the
// snapshot failed (SQLITE_FULL) and the app's own writes met a full disk meanwhile. It now waits
// in a private spool directory (`serve --spool DIR`, default the system's temp directory), and
// every snapshot checks that it fits where it goes, refusing with the numbers.
//
// A 2 MiB tmpfs the test mounts (as root) holds a 1.3 MB live database (60,000 rows): no copy of it fits
// beside it. A second server's --spool is a directory on that nearly full filesystem.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkAfterFault, cli, fixture, integrity, labelOf, leftovers, mountTmpfs, report, request, seed, type Served, startServe, tempDir, TrackedLoad, unmount } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let a: Served | undefined
let b: Served | undefined
let live: string
let liveB: string
let mnt: string
let spoolB: string
let mounted = false
let mountError = ''
let deadSpool: string

before(async () => {
  t = tempDir()
  mnt = join(t.dir, 'mnt')
  ;({ mounted, error: mountError } = mountTmpfs(mnt))
  live = join(mnt, 'live.sqlite3')
  // Seeded beside and copied in: the seeding's WAL would not fit on the small disk.
  seed(join(t.dir, 'seed.sqlite3'), { label: 'p0', rows: 60_000 })
  copyFileSync(join(t.dir, 'seed.sqlite3'), live)
  mkdirSync(join(t.dir, 'a'))
  a = await startServe({ dir: join(t.dir, 'a'), dbs: [live], workers: 2, app: fixture('faults-app.mjs') })

  // The second server's spool: on the nearly full filesystem, holding what a killed primary
  // (a pid that has exited) left there.
  liveB = join(t.dir, 'b.sqlite3')
  seed(liveB, { label: 'b0', rows: 60_000 })
  spoolB = join(mnt, 'spool')
  mkdirSync(spoolB)
  const gone = spawnSync(process.execPath, ['-e', '0']).pid as number
  deadSpool = join(spoolB, `hotswap-spool-${gone}-AbCdEf`)
  mkdirSync(deadSpool, { mode: 0o700 })
  writeFileSync(join(deadSpool, 'pull-0123456789ab.tmp'), 'a snapshot a killed primary left')
  mkdirSync(join(t.dir, 'b'))
  b = await startServe({ dir: join(t.dir, 'b'), dbs: [liveB], workers: 1, app: fixture('faults-app.mjs'), args: ['--spool', spoolB] })
})

after(async () => {
  const codes = await Promise.all([a?.stop(), b?.stop()])
  const spoolsLeft = mounted ? readdirSync(spoolB) : []
  if (mounted) unmount(mnt)
  t?.cleanup()
  assert.deepEqual(codes, [0, 0])
  assert.deepEqual(spoolsLeft, [], 'a stopped server removes its spool directory')
})

const free = (dir: string): number => { const st = statfsSync(dir); return st.bavail * st.bsize }

async function write (s: Served): Promise<void> {
  const w = await request(s.port, '/write', { keepAlive: false })
  assert.equal(w.status, 200, w.body)
}

test('a pull to stdout on a nearly full volume goes through the spool; the app keeps writing', async (tt) => {
  const s = a as Served
  if (!mounted) tt.diagnostic(`mount -t tmpfs is not permitted here (${mountError}): the same pull, on a roomy volume`)
  const size = statSync(live).size
  if (mounted) assert.ok(free(mnt) < size, `no copy fits beside the live file (${free(mnt)} free, ${size} needed)`)
  // Reads under load, and writes while the pull runs (a few: the WAL lives on the small disk too).
  const load = new TrackedLoad(s.port)
  let r
  try {
    const pulling = cli(['cp', 'live', '-', '--socket', s.socket], { cwd: t.dir })
    for (let i = 0; i < 5; i++) await write(s)
    r = await pulling
  } finally {
    await load.stop()
  }
  assert.equal(r.code, 0, r.stderr)
  const copy = join(t.dir, 'pulled.sqlite3')
  writeFileSync(copy, r.stdout)
  assert.deepEqual(integrity(copy), ['ok'])
  assert.equal(labelOf(copy), 'p0')
  assert.deepEqual(load.unexplained(), [], `no request failed (${load.summary()})`)
  const { tempLeft } = await checkAfterFault({ live, port: s.port, socket: s.socket, allowed: ['p0'] })
  await write(s)
  // The spool: this server's own private directory in the temp directory, empty again.
  const mine = readdirSync(tmpdir()).filter((n) => n.startsWith(`hotswap-spool-${s.pid}-`))
  assert.equal(mine.length, 1, `one spool directory for pid ${s.pid}`)
  const dir = join(tmpdir(), mine[0] as string)
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  assert.deepEqual(readdirSync(dir), [])
  // A cleaner of the temp directory removed it (idle for days): the next pull makes it again.
  rmSync(dir, { recursive: true })
  const again = await cli(['cp', 'live', '-', '--socket', s.socket], { cwd: t.dir })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.length, r.stdout.length)
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  report(tt, 'pull on a full volume', { faults: 1, survived: 1, lost: 0, tempLeft, requestsOk: load.ok, requestsFailed: load.failures.length })
})

test('a snapshot that does not fit where it goes is refused first, with the numbers', async () => {
  const s = b as Served
  if (!mounted) return // Nothing is full without a filesystem of our own.
  // A pull to stdout whose --spool is on the full filesystem.
  const r = await cli(['cp', 'b', '-', '--socket', s.socket], { cwd: t.dir })
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] not enough space in .*spool.* for the snapshot of b: it needs up to \d+ bytes, and \d+ are available/, r.stderr)
  assert.equal(r.stdout.length, 0)
  // A pull into a file on the live database's own filesystem must leave it room too.
  const p = await cli(['cp', 'live', join(mnt, 'backup.sqlite3'), '--socket', (a as Served).socket], { cwd: t.dir })
  assert.equal(p.code, 1, p.stderr)
  assert.match(p.stderr, /^ERROR \[HOTSWAP_ERR_NO_SPACE\] .* needs up to \d+ bytes plus \d+ bytes left free for the live database .* \d+ are available/, p.stderr)
  assert.deepEqual(leftovers(mnt), [])
  await write(a as Served)
  await write(s)
})

test("start-up removed a killed primary's spool; the spool directory is private", async () => {
  const s = b as Served
  if (!mounted) return
  assert.throws(() => statSync(deadSpool), /ENOENT/)
  assert.ok(s.output().includes(deadSpool), 'the removal is logged')
  const mine = readdirSync(spoolB)
  assert.equal(mine.length, 1)
  assert.match(mine[0] as string, new RegExp(`^hotswap-spool-${s.pid}-`))
  assert.equal(statSync(join(spoolB, mine[0] as string)).mode & 0o777, 0o700)
})
