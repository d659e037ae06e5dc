// SIGHUP (a reload) and SIGUSR2 (logrotate's reopen) end a process by default, so one sent while
// `hotswap serve` starts (a `systemctl reload` right after the start, a postrotate at that
// moment) used to take the primary down. The primary catches both from its first steps: SIGUSR2
// reopens the log file at once, SIGHUP reloads the workers once they are started. The window
// is held open with HOTSWAP_TEST_STALL_AT=serve-starting:MS (shared/crash-point.ts).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fixture, freePort, isAlive, request, seed, startServeArgs, tempDir, waitUntil } from '../support/index.js'

/** The signals a process catches, from its /proc status (SigCgt: bit N-1 for signal N). */
function catches (pid: number): bigint {
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0n : BigInt(`0x${m[1] as string}`)
}

const caught = (pid: number, signal: number): boolean => (catches(pid) & (1n << BigInt(signal - 1))) !== 0n

test('SIGHUP and SIGUSR2 while serve starts: the primary lives, reopens its log file at once, reloads its workers once started', async (t) => {
  const dir = tempDir()
  t.after(() => { dir.cleanup() })
  seed(join(dir.dir, 'live.sqlite3'), { label: 'v0' })
  const port = await freePort()
  const socket = join(dir.dir, 'sock', 'hotswap.sock')
  const s = await startServeArgs({
    dir: dir.dir,
    args: [fixture('app.mjs'), '--workers', '1', '--port', String(port), '--socket', socket, '--db', 'live.sqlite3'],
    port,
    socket,
    env: { HOTSWAP_TEST_STALL_AT: 'serve-starting:4000' },
    waitListening: 0,
  })
  t.after(async () => { await s.stop() })
  // Both caught (SIGHUP 1, SIGUSR2 12) while the primary is still starting: nothing serves yet.
  await waitUntil('the starting primary to catch SIGHUP and SIGUSR2', () => caught(s.pid, 1) && caught(s.pid, 12), 10_000)
  assert.equal(s.logs().some((l) => /serving/.test(String(l.message))), false, `still starting:\n${s.output()}`)
  process.kill(s.pid, 'SIGUSR2')
  process.kill(s.pid, 'SIGHUP')
  await s.waitForLog(/^SIGUSR2: no --log-file to reopen$/)
  await s.waitForLog(/^SIGHUP while starting: the workers are reloaded once they are started$/)
  assert.equal(s.logs().some((l) => /serving/.test(String(l.message))), false, 'both handled before the start went on')

  await s.waitForLog(/^reload complete: 1 worker\(s\) replaced/, 20_000)
  assert.ok(isAlive(s.pid), 'the primary lives')
  assert.equal((await request(port, '/label')).json().label, 'v0')
  assert.equal(await s.stop(), 0, 'serve exits 0 on SIGTERM')
})
