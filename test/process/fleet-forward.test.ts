// The held switch of `fleet cp` and `fleet undo` speaks each host's control socket through the
// host's ssh control master (`ssh -O forward`): no `hotswap commit` (or `undo`) CLI is started on
// the host, and the summary line says which path each host took. A host whose socket is not
// known (its `status --json` fails here) falls back to the CLI over ssh, and says so; so does a
// host whose sshd refuses to forward a Unix socket (`AllowStreamLocalForwarding no`, a common
// hardening), which ssh only finds out when the forwarded socket is first connected to.

import assert from 'node:assert/strict'
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { BIN, cli, fleetCoordinator, fleetServes, FLEET_LIVE, pushable, sh, startFleet, type Host } from '../support/index.js'

/** hotswap on the host, each call's words appended to calls.log in its directory first; `status` refused when `noStatus`. */
function logged (h: Host, noStatus = false): string {
  const refuse = noStatus ? '[ "$1" = status ] && return 1; ' : ''
  return `cd ${sh(h.dir)} && f() { printf '%s\\n' "$*" >> calls.log; ${refuse}${sh(process.execPath)} ${sh(BIN)} "$@"; }; f`
}

const calls = (h: Host): string[] => readFileSync(join(h.dir, 'calls.log'), 'utf8').split('\n').filter((l) => l !== '')

test('fleet cp and undo switch over the forwarded sockets, no CLI on the hosts; a host whose socket is unknown takes the CLI', async (t) => {
  const { fleet, serves } = await startFleet(t, { n: 2 })
  const [host1, host2] = fleet.hosts as [Host, Host]
  const cwd = fleetCoordinator(t, fleet, 10_000, (h) => logged(h))
  const cp = await cli(['fleet', 'cp', pushable(cwd, 'v1', 500).path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(cp.code, 0, cp.stderr)
  assert.match(cp.stderr, /^fleet cp to db\/live\.sqlite3: 2 hosts switched to .*; held over host1 forwarded socket, host2 forwarded socket$/m)
  await fleetServes(serves, 'v1')
  const undo = await cli(['fleet', 'undo', FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(undo.code, 0, undo.stderr)
  assert.match(undo.stderr, /^fleet undo of db\/live\.sqlite3: 2 hosts back to .*; held over host1 forwarded socket, host2 forwarded socket$/m)
  await fleetServes(serves, 'v0')
  for (const h of [host1, host2]) {
    assert.deepEqual(calls(h).filter((l) => /^(commit|undo) /.test(l)), [], `no commit or undo CLI started on ${h.name}`)
  }

  const mixed = fleetCoordinator(t, fleet, 10_000, (h) => logged(h, h.name === 'host2'))
  const again = await cli(['fleet', 'cp', pushable(mixed, 'v2', 500).path, FLEET_LIVE], { cwd: mixed, timeoutMs: 40_000 })
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, /; held over host1 forwarded socket, host2 ssh CLI$/m)
  await fleetServes(serves, 'v2')
  assert.equal(calls(host1).filter((l) => l.startsWith('commit ')).length, 0)
  assert.equal(calls(host2).filter((l) => l.startsWith('commit ')).length, 1, 'host2 took the CLI')

  // host2's sshd refuses stream-local forwarding: ssh sets the forward up on our side all the
  // same, and its first connection is closed at once. That host takes the CLI; nothing fails.
  appendFileSync(join(fleet.dir, 'host2_sshd_config'), 'AllowStreamLocalForwarding no\n')
  await fleet.killSshd(host2)
  await fleet.restartSshd(host2)
  const hardened = await cli(['fleet', 'cp', pushable(cwd, 'v3', 500).path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(hardened.code, 0, hardened.stderr)
  assert.match(hardened.stderr, /; held over host1 forwarded socket, host2 ssh CLI$/m)
  await fleetServes(serves, 'v3')
  assert.equal(calls(host2).filter((l) => l.startsWith('commit ')).length, 2, 'host2 took the CLI again')
})
