// `hotswap lease NAME --owner TEXT` (the fleet's lock, one per host): held for as long as its
// input stays open. A second one is refused with HOTSWAP_ERR_FLEET_BUSY naming the holder and
// since when; the end of the holder's input, or the holder SIGKILLed, frees it at once. Bad
// arguments are usage errors. And `fleet recover` with nothing to recover, or a bad id.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, cliUntil, type HeldCli, type Served, serveLiveForFile, sleep, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served

serveLiveForFile({ workers: 1, label: 'v1' }, (s) => { ({ t, served } = s) })

/** A `hotswap lease fleet` whose stdin is ours: resolves once it printed LEASED (or ended). */
async function holder (owner: string): Promise<HeldCli> {
  return await cliUntil(['lease', 'fleet', '--owner', owner, '--socket', served.socket], 'LEASED\n', { cwd: t.dir })
}

test('a held lease: a second is FLEET_BUSY naming the holder; its end of input frees it; a SIGKILLed holder frees it too', async () => {
  const a = await holder('alice@laptop pid 1 (fleet cp)')
  const busy = await cli(['lease', 'fleet', '--owner', 'bob@desk pid 2 (fleet cp)', '--socket', served.socket], { cwd: t.dir })
  assert.equal(busy.code, 1, busy.stderr)
  assert.match(busy.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_BUSY\] the fleet lease is held by alice@laptop pid 1 \(fleet cp\) since \d{4}-\d\d-\d\dT[0-9:.]+Z$/m)
  a.end()
  assert.deepEqual(await a.done, { code: 0, stdout: 'LEASED\n', stderr: '' })

  const b = await holder('bob@desk pid 2 (fleet cp)')
  b.kill()
  await b.done
  const c = await holder('carol@tablet pid 3 (fleet undo)')
  c.end()
  assert.equal((await c.done).stdout, 'LEASED\n', 'the lease of the killed holder was freed')
})

test('bad lease arguments are usage errors; fleet recover with nothing recorded says so; a bad or unknown decision id is a usage error', async () => {
  const noName = await cli(['lease', 'Fleet!', '--owner', 'x', '--socket', served.socket], { cwd: t.dir, input: Buffer.alloc(0) })
  assert.equal(noName.code, 2, noName.stderr)
  assert.match(noName.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] lease NAME: a name of lowercase letters/m)
  const noOwner = await cli(['lease', 'fleet', '--socket', served.socket], { cwd: t.dir })
  assert.equal(noOwner.code, 2, noOwner.stderr)

  const none = await cli(['fleet', 'recover'], { cwd: t.dir })
  assert.equal(none.code, 0, none.stderr)
  assert.match(none.stdout.toString(), /^no unfinished fleet decision in .*\.hotswap\/fleet: nothing to recover\n$/)
  const bad = await cli(['fleet', 'recover', '../x'], { cwd: t.dir })
  assert.equal(bad.code, 2, bad.stderr)
  assert.match(bad.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] "\.\.\/x" is not a decision id/m)
  const unknown = await cli(['fleet', 'recover', '20260101T000000Z-0000abcd'], { cwd: t.dir })
  assert.equal(unknown.code, 2, unknown.stderr)
  assert.match(unknown.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] no fleet decision 20260101T000000Z-0000abcd in /m)
})

test('--ttl: a holder that sends a line in time keeps it; one that goes silent (its ssh half-open) loses it, and it is free again', async () => {
  const a = await cliUntil(['lease', 'fleet', '--owner', 'alice@laptop pid 1 (fleet cp)', '--ttl', '1000', '--socket', served.socket], 'LEASED\n', { cwd: t.dir })
  const beat = setInterval(() => a.send('\n'), 250)
  try {
    await sleep(2500)
    const busy = await cli(['lease', 'fleet', '--owner', 'bob@desk pid 2 (fleet cp)', '--socket', served.socket], { cwd: t.dir })
    assert.equal(busy.code, 1, busy.stderr)
    assert.match(busy.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_BUSY\] the fleet lease is held by alice@laptop/m, 'kept by its heartbeats past its ttl')
  } finally {
    clearInterval(beat)
  }
  // Silent now, its input still open (as a session a cut-off sshd keeps): freed after the ttl.
  const r = await a.done
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_TIMEOUT\] the fleet lease of alice@laptop pid 1 \(fleet cp\) expired: no line on its input for 1000 ms/m)
  const b = await cliUntil(['lease', 'fleet', '--owner', 'bob@desk pid 2 (fleet cp)', '--socket', served.socket], 'LEASED\n', { cwd: t.dir })
  b.end()
  assert.equal((await b.done).stdout, 'LEASED\n', 'the expired lease was free')
  const bad = await cli(['lease', 'fleet', '--owner', 'x', '--ttl', '5', '--socket', served.socket], { cwd: t.dir, input: Buffer.alloc(0) })
  assert.equal(bad.code, 2, bad.stderr)
})
