// The fleet tests' harness itself: three hosts on this machine, each its own sshd on its own
// loopback address; serve and cp run on each over ssh through its multiplexed master; stop()
// leaves no process and no control socket; a host cut off (an iptables DROP, in this file's own
// network namespace) times out while the others answer.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isRunning, netnsId, OUTER_NETNS_ENV, ownNetworkNamespace, pushable, request, runProcess, seed, startHosts, status } from '../support/index.js'

const isolation = await ownNetworkNamespace()

test('three hosts over ssh: each serves its own database, takes a cp piped through ssh and serves the new label; stop() leaves nothing running', async (t) => {
  const fleet = await startHosts(t, 3)
  assert.deepEqual(fleet.hosts.map((h) => h.address), ['127.0.0.2', '127.0.0.3', '127.0.0.4'])
  for (const host of fleet.hosts) seed(join(host.dir, 'db', 'live.sqlite3'), { label: `${host.name}-v0` })
  const serves = await Promise.all(fleet.hosts.map(async (host) => await fleet.serveOn(host)))
  for (const s of serves) assert.equal((await request(s.port, '/label')).json().label, `${s.host.name}-v0`)

  const rounds: number[] = []
  for (let i = 0; i < 20; i++) {
    const host = fleet.hosts[i % 3]
    const started = performance.now()
    const r = await fleet.ssh(host, 'echo $SSH_CONNECTION')
    rounds.push(performance.now() - started)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout.toString(), new RegExp(` ${host.address.replace(/\./g, '\\.')} ${host.port}\n$`))
  }
  rounds.sort((a, b) => a - b)
  t.diagnostic(`ssh round trip through the control master (a session running a command): median ${rounds[10].toFixed(1)} ms (min ${rounds[0].toFixed(1)}, max ${rounds[19].toFixed(1)}) over 20`)

  // The host's control socket forwarded through the master: a request without any process started.
  const forwarded = join(fleet.dir, 'host1-forwarded.sock')
  const fwd = await runProcess('ssh', ['-F', fleet.config, '-O', 'forward', '-L', `${forwarded}:${serves[0].socket}`, 'host1'], { cwd: fleet.dir })
  assert.equal(fwd.code, 0, fwd.stderr)
  const viaSocket: number[] = []
  for (let i = 0; i < 20; i++) {
    const started = performance.now()
    assert.equal((await status(forwarded)).databases.length, 1)
    viaSocket.push(performance.now() - started)
  }
  viaSocket.sort((a, b) => a - b)
  t.diagnostic(`status over host1's control socket forwarded through its master: median ${viaSocket[10].toFixed(1)} ms (min ${viaSocket[0].toFixed(1)}, max ${viaSocket[19].toFixed(1)}) over 20`)

  const v1 = pushable(fleet.dir, 'v1')
  const pushed = await Promise.all(fleet.hosts.map(async (host) => await fleet.hotswap(host, ['cp', '-', 'db/live.sqlite3'], { input: v1.bytes })))
  for (const r of pushed) assert.equal(r.code, 0, r.stderr)
  for (const s of serves) assert.equal((await request(s.port, '/label')).json().label, 'v1', `${s.host.name} serves the new file`)

  for (const host of fleet.hosts) assert.ok(existsSync(join(fleet.dir, 'cm', host.name)), `${host.name}'s control socket is there before stop()`)
  const pids = await fleet.processes()
  assert.ok(pids.length >= 3 * 4, `sshd, its session, the master, serve and its worker per host: ${pids.join(' ')}`)
  await fleet.stop()
  assert.deepEqual(pids.filter(isRunning), [], 'no sshd, session, master, serve or worker left')
  assert.equal(existsSync(fleet.dir), false, 'the temp dir (keys, config, control sockets, hosts) is removed')
})

test('a host cut off: a new ssh to it fails on ConnectTimeout, its master gives up, the others answer; restored, it answers again', async (t) => {
  // No skip: a test that cannot run here fails, saying why (CI runs as root, .ci/run installs the tools).
  assert.ok(isolation.isolated, `this test needs its own network namespace: ${isolation.why ?? ''}`)
  // The guard: a process that is in the namespace it was started in refuses to add a rule.
  const netns = fileURLToPath(new URL('../support/netns.js', import.meta.url))
  const refused = await runProcess(process.execPath, ['--input-type=module', '-e', `import { dropTcp } from ${JSON.stringify(netns)}; dropTcp('127.0.0.9', 9)`],
    { cwd: '/', env: { [OUTER_NETNS_ENV]: netnsId() } })
  assert.notEqual(refused.code, 0)
  assert.match(refused.stderr, /refusing to change iptables outside the test's own network namespace/)

  const fleet = await startHosts(t, 3)
  const [a, b, c] = fleet.hosts
  fleet.cutOff(c)
  const started = performance.now()
  const [ra, rb, fresh, viaMaster] = await Promise.all([
    fleet.ssh(a, 'echo a'),
    fleet.ssh(b, 'echo b'),
    fleet.ssh(c, 'true', { options: ['-S', 'none'] }).then((r) => ({ ...r, ms: performance.now() - started })),
    fleet.ssh(c, 'true').then((r) => ({ ...r, ms: performance.now() - started })),
  ])
  assert.equal(ra.code, 0, ra.stderr)
  assert.equal(rb.code, 0, rb.stderr)
  assert.equal(fresh.code, 255)
  assert.match(fresh.stderr, /timed out/)
  assert.equal(viaMaster.code, 255, viaMaster.stderr)
  t.diagnostic(`cut off: a new connection failed after ${fresh.ms.toFixed(0)} ms (${fresh.stderr.trim()}); one through the master after ${viaMaster.ms.toFixed(0)} ms (${viaMaster.stderr.trim()})`)
  fleet.restore(c)
  const back = await fleet.ssh(c, 'echo back')
  assert.equal(back.code, 0, back.stderr)
  assert.equal(back.stdout.toString(), 'back\n')
})
