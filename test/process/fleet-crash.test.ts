// The fleet coordinator SIGKILLed at each of its crash points (HOTSWAP_TEST_CRASH_AT, three
// hosts): before the decision is recorded, once it is recorded (every host paused, no go sent),
// and between the hosts' installs (the first host's OK, the others not told to go). No host is
// left paused: each answers within its hold, on its own. A fleet cp is refused while the
// decision is unfinished; `fleet recover` then finishes it (back before the decision, forward
// after it) and every host serves the same file, whole, with no stage or temp file left.

import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { cli, decisions, FLEET_LIVE, fleetServes, pushable, request, startFleet, type RemoteServe } from '../support/index.js'

const HOLD = 3_000

/** The forwarded control sockets (fwd-PID-N.sock) of coordinators no longer running. */
function deadForwards (): string[] {
  const dir = join(tmpdir(), `hotswap-ssh-${userInfo().uid}`)
  let names: string[]
  try { names = readdirSync(dir) } catch { return [] }
  return names.filter((n) => {
    const m = /^fwd-(\d+)-\d+\.sock$/.exec(n)
    if (m === null) return false
    try { process.kill(Number(m[1]), 0); return false } catch (err) { return (err as NodeJS.ErrnoException).code === 'ESRCH' }
  })
}

/** Each host answers a request within its hold: none is left paused by the killed coordinator. */
async function noneStuck (serves: RemoteServe[]): Promise<string[]> {
  return await Promise.all(serves.map(async (s) => await Promise.race([
    request(s.port, '/label').then((r) => r.json().label as string),
    new Promise<string>((resolve) => setTimeout(() => resolve(`${s.host.name} did not answer within its hold`), HOLD + 2_000)),
  ])))
}

test('the coordinator SIGKILLed before the decision, after it, and between the installs: no host stuck paused; fleet recover makes the fleet whole and the same', async (t) => {
  const { serves, cwd } = await startFleet(t, { hold: HOLD })
  let served = 'v0'
  for (const [point, label, after, expected, recovered] of [
    ['fleet-before-decision', 'v1', ['v0', 'v0', 'v0'], 'v0', /: it was never decided; every stage aborted, nothing had changed$/],
    ['fleet-decided', 'v2', ['v0', 'v0', 'v0'], 'v2', /: finished forward, every host serves sha256:[0-9a-f]{12} \(host1 switched by recover, host2 switched by recover, host3 switched by recover\)$/],
    ['fleet-between-installs', 'v3', ['v3', 'v2', 'v2'], 'v3', /: finished forward, every host serves sha256:[0-9a-f]{12} \(host1 had switched, host2 switched by recover, host3 switched by recover\)$/],
  ] as const) {
    const file = pushable(cwd, label)
    const leftBefore = deadForwards()
    const killed = await cli(['fleet', 'cp', file.path, FLEET_LIVE], { cwd, env: { HOTSWAP_TEST_CRASH_AT: point }, timeoutMs: 40_000 })
    assert.equal(killed.code, null, `${point}: the coordinator was killed (${killed.stderr})`)
    // Killed with every host held over its forwarded socket: those sockets are left behind,
    // until the next fleet command removes them.
    const left = deadForwards().filter((n) => !leftBefore.includes(n))
    // Between the installs, the first host's switch had ended and its forward was cancelled.
    assert.equal(left.length, point === 'fleet-decided' ? 3 : point === 'fleet-between-installs' ? 2 : 0, `${point}: the killed coordinator's forwards: ${left.join(' ')}`)
    const before = after.map((l) => l === 'v0' ? served : l)
    assert.deepEqual(await noneStuck(serves), before, `${point}: every host answers on its own`)
    const [record] = decisions(cwd).filter((d) => d.state !== 'committed' && d.state !== 'aborted' && d.state !== 'undone')
    assert.equal(record?.state, point === 'fleet-before-decision' ? 'staging' : 'decided', point)

    // Unfinished: another fleet cp of the same database is refused, pointing to fleet recover.
    if (point === 'fleet-decided') {
      const refused = await cli(['fleet', 'cp', file.path, FLEET_LIVE], { cwd, timeoutMs: 40_000 })
      assert.equal(refused.code, 1, refused.stderr)
      assert.match(refused.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_FLEET_UNFINISHED\\] fleet cp to db/live\\.sqlite3: the fleet decision ${record?.id ?? '?'} is unfinished \\(decided\\); run \`hotswap fleet recover\` first, nothing was done$`, 'm'))
    }

    const r = await cli(['fleet', 'recover'], { cwd, timeoutMs: 40_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout.toString(), new RegExp(`^decision ${record?.id ?? '?'} \\(fleet cp to db/live\\.sqlite3, (staging|decided)\\)${recovered.source}`, 'm'))
    assert.deepEqual(deadForwards().filter((n) => left.includes(n)), [], `${point}: fleet recover removed the killed coordinator's forwarded sockets`)
    served = expected
    await fleetServes(serves, served)
    const finished = decisions(cwd).find((d) => d.id === record?.id)
    assert.equal(finished?.state, point === 'fleet-before-decision' ? 'aborted' : 'committed')
  }
  const status = await cli(['fleet', 'status', FLEET_LIVE], { cwd })
  assert.equal(status.code, 0, status.stderr)
  assert.match(status.stdout.toString(), /^the fleet agrees: live sha256:[0-9a-f]{12} on 3 hosts$/m)
  const none = await cli(['fleet', 'recover'], { cwd })
  assert.equal(none.code, 0, none.stderr)
  assert.match(none.stdout.toString(), /^no unfinished fleet decision in .*: nothing to recover\n$/)
})
