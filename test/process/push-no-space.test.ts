// A push that does not fit beside the live database. The live database is on an 8 MiB tmpfs of
// its own (mounted by the test: CI runs as root; where mount is not permitted the test fails, it
// cannot stand for a full disk otherwise); the push is a valid 12 MB SQLite file.
//   size known (`cp - LIVE < FILE`, or `cp FILE LIVE` streamed by our client): the client
//     announces it and the server refuses before receiving a byte: no temp file is ever made;
//   size unknown (`cat FILE | hotswap cp - LIVE`): the disk fills mid-upload, and the partial
//     temp file is removed.
// Both are HOTSWAP_ERR_NO_SPACE (exit 1) naming the bytes needed and available, and the live
// database goes on being served unchanged. A server-side path push on a tmpfs is
// disk-full-writes.test.ts and upload-limits.test.ts.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, watch, writeFileSync, rmSync, statfsSync, statSync, type FSWatcher } from 'node:fs'
import type net from 'node:net'
import { join } from 'node:path'
import { checkAfterFault, exchange, fixture, frame, gemStream, HOTSWAP, labelOf, leftovers, mountTmpfs, otherRootProxy, runProcess, seed, type Served, startServe, takeFrames, tempDir, unmount, waitUntil } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let mnt: string
let mounted = false
let served: Served | undefined
let proxy: net.Server | undefined
let proxySocket: string
let live: string
let big: string

before(async () => {
  t = tempDir()
  mnt = join(t.dir, 'mnt')
  const m = mountTmpfs(mnt, '8m')
  mounted = m.mounted
  assert.ok(mounted, `mount -t tmpfs is not permitted here (${m.error}): this test needs a small filesystem of its own; run it as root (CI does)`)
  live = join(mnt, 'live.sqlite3')
  seed(live, { label: 'd0', rows: 1000 })
  big = join(t.dir, 'big.sqlite3')
  seed(big, { label: 'big', rows: 540_000 })
  assert.ok(statSync(big).size > 12_000_000, `${statSync(big).size} bytes`)
  served = await startServe({ dir: t.dir, dbs: [live], workers: 2, app: fixture('faults-app.mjs') })
  // Through it, our client cannot see the server's files and streams `cp FILE LIVE`.
  proxySocket = join(t.dir, 'proxy.sock')
  proxy = await otherRootProxy(served.socket, proxySocket)
})

after(async () => {
  await new Promise<void>((resolve) => { if (proxy === undefined) resolve(); else proxy.close(() => resolve()) })
  const code = await served?.stop()
  if (mounted) unmount(mnt)
  t?.cleanup()
  if (served !== undefined) assert.equal(code, 0)
})

const free = (): number => { const st = statfsSync(mnt); return st.bavail * st.bsize }

/** `hotswap cp …` through a shell, so that stdin is what the shell makes of `redirect`. */
async function shell (line: string): Promise<{ code: number | null, stderr: string }> {
  const r = await runProcess('sh', ['-c', line], { cwd: t.dir, timeoutMs: 60_000 })
  return { code: r.code, stderr: r.stderr }
}

/**
 * Every name created in the live database's folder while `run` runs. A marker file made after
 * it is the last event: once it is seen, every earlier one has been (inotify keeps the order).
 */
async function namesCreatedDuring (run: () => Promise<void>): Promise<string[]> {
  const names: string[] = []
  const w: FSWatcher = watch(mnt, (_event, name) => { if (name !== null) names.push(name) })
  try {
    await run()
    writeFileSync(join(mnt, 'marker'), '')
    await waitUntil('the marker file is seen', () => names.includes('marker'))
  } finally {
    w.close()
    rmSync(join(mnt, 'marker'), { force: true })
  }
  return names.filter((n) => n !== 'marker')
}

async function liveUntouched (): Promise<void> {
  assert.equal(labelOf(live), 'd0')
  await checkAfterFault({ live, port: (served as Served).port, socket: (served as Served).socket, allowed: ['d0'] })
}

test('a streamed push of known size that does not fit is refused before a byte is written: HOTSWAP_ERR_NO_SPACE with the numbers', async (tt) => {
  const s = served as Served
  const size = statSync(big).size
  const before = free()
  tt.diagnostic(`push ${size} bytes, ${before} free on the 8 MiB tmpfs`)
  const cases = {
    'cp - LIVE < FILE': `${HOTSWAP} cp - live --socket "${s.socket}" < "${big}"`,
    'cp FILE LIVE, streamed': `${HOTSWAP} cp "${big}" live --socket "${proxySocket}"`,
  }
  for (const [name, line] of Object.entries(cases)) {
    let r = { code: null as number | null, stderr: '' }
    const created = await namesCreatedDuring(async () => { r = await shell(line) })
    assert.equal(r.code, 1, `${name}: ${r.stderr}`)
    const m = /^ERROR \[HOTSWAP_ERR_NO_SPACE\] not enough space in .*mnt for the streamed upload: it needs up to (\d+) bytes plus (\d+) bytes left free for the live database on the same filesystem, and (\d+) are available; free some space beside the live database\n$/.exec(r.stderr)
    assert.ok(m !== null, `${name}: ${r.stderr}`)
    assert.equal(Number(m[1]), size, `${name}: the bytes needed are the file's`)
    assert.ok(Number(m[3]) < size && Number(m[3]) > 0, `${name}: ${r.stderr}`)
    assert.deepEqual(created.filter((n) => n.includes('.hotswap-') && !n.endsWith('.hotswap-lock')), [], `${name}: no temp file was made beside the live database`)
    assert.ok(free() >= before - 64 * 1024, `${name}: nothing was written (${before} → ${free()} bytes free)`)
  }
  assert.deepEqual(leftovers(mnt), [])
  await liveUntouched()
})

test('a streamed push of unknown size (a pipe) that fills the disk: HOTSWAP_ERR_NO_SPACE with the numbers, the temp file removed', async (tt) => {
  const s = served as Served
  const size = statSync(big).size
  const before = free()
  const r = await shell(`cat "${big}" | ${HOTSWAP} cp - live --socket "${s.socket}"`)
  tt.diagnostic(r.stderr.trim())
  assert.equal(r.code, 1, r.stderr)
  const m = /^ERROR \[HOTSWAP_ERR_NO_SPACE\] no space left beside .*live\.sqlite3 to receive the upload: wrote (\d+) of (\d+) bytes received, so it needs at least (\d+) bytes, and (\d+) were available\n$/.exec(r.stderr)
  assert.ok(m !== null, r.stderr)
  const [written, received, needed, available] = m.slice(1).map(Number) as [number, number, number, number]
  assert.ok(written <= received && received <= size && needed === received, r.stderr)
  assert.ok(available > 0 && available < size && written <= available, r.stderr)
  assert.deepEqual(leftovers(mnt), [], 'the partial temp file was removed')
  assert.ok(free() >= before - 64 * 1024, `the partial upload's space was given back (${before} → ${free()} bytes free)`)
  await liveUntouched()
})

test('the announced size is no way around the checks: one over --max-bytes is refused at once, more bytes than announced are refused', async () => {
  const s = served as Served
  const bytes = readFileSync(big)
  /** The gem's framing of `cp - live` with our client's control frame, announcing `size`. */
  const announcing = (size: number): Buffer => {
    const { frames } = takeFrames(gemStream(['cp', '-', 'live'], bytes))
    return Buffer.concat([frame(3, JSON.stringify({ args: ['cp', '-', 'live'], tty: false, protocol: 1, size })), ...frames.slice(1).map((f) => frame(f.channel, f.payload))])
  }
  const tooLarge = await exchange(s.socket, announcing(100 * 2 ** 36), { timeoutMs: 30_000 }) // over the default 64 GiB
  assert.equal(tooLarge.control?.code, 'HOTSWAP_ERR_TOO_LARGE', JSON.stringify(tooLarge.control))
  assert.equal(tooLarge.control?.exit, 1)
  const less = await exchange(s.socket, announcing(4096), { timeoutMs: 30_000 })
  assert.equal(less.control?.code, 'HOTSWAP_ERR_SOURCE', JSON.stringify(less.control))
  assert.match(less.control?.error ?? '', /larger than the 4096 bytes its client announced/)
  assert.deepEqual(leftovers(mnt), [])
  await liveUntouched()
  // A push that fits, its size announced, goes through.
  const fits = join(t.dir, 'fits.sqlite3')
  seed(fits, { label: 'fits', rows: 2000 })
  const r = await shell(`${HOTSWAP} cp - live --socket "${s.socket}" < "${fits}"`)
  assert.equal(r.code, 0, r.stderr)
  await checkAfterFault({ live, port: s.port, socket: s.socket, allowed: ['fits'] })
})
