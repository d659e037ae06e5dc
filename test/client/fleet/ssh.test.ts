// Where hotswap keeps its own ssh control sockets when the user's config names no ControlPath:
// a predictable name in the temp directory, so one made there first by another user, or open
// to others, is refused rather than used.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { controlDir } from '../../../src/client/fleet/ssh.js'

function inTemp (t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hotswap-test-'))
  const before = process.env.TMPDIR
  process.env.TMPDIR = dir
  t.after(() => {
    if (before === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = before
    rmSync(dir, { recursive: true, force: true })
  })
  return join(dir, `hotswap-ssh-${userInfo().uid}`)
}

test('made private (0700) when missing, and used as it is when it is ours and private', (t) => {
  const want = inTemp(t)
  assert.equal(controlDir(), want)
  assert.equal(statSync(want).mode & 0o777, 0o700)
  assert.equal(controlDir(), want)
})

test('one open to other users is refused: HOTSWAP_ERR_SOCKET_UNSAFE naming it', (t) => {
  const want = inTemp(t)
  mkdirSync(want)
  chmodSync(want, 0o777)
  assert.throws(() => controlDir(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HOTSWAP_ERR_SOCKET_UNSAFE')
    assert.match(err.message, /is not a directory private to this user \(owner \d+, mode 777\)/)
    return true
  })
})
