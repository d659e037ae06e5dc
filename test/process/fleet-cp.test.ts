// `hotswap fleet cp SRC LIVE`: one database to three hosts (each its own sshd and serve, see
// test/support/fleet.ts), all of them or none. Under HTTP load on every host the fleet switches
// together: a client that alternates between the hosts never reads the new file and then the old
// one, and no request fails; `fleet status` agrees afterwards. A host that refuses the file (its
// live schema differs) or that cannot be reached (its sshd stopped) aborts every stage: every host
// keeps its file, no stage is left anywhere, exit 1 naming the host.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  BIN, cli, decisions, fixture, FLEET_LIVE, testDir, Outsider, type Host, load, pushable, request, runProcess, sleep, stagesLeft, startFleet, type RemoteServe, waitUntil, isRunning,
} from '../support/index.js'

const LIVE = FLEET_LIVE

async function unchanged (serves: RemoteServe[], label = 'v0'): Promise<void> {
  for (const s of serves) {
    assert.equal((await request(s.port, '/label')).json().label, label, `${s.host.name} still serves ${label}`)
    assert.deepEqual(stagesLeft(s.host), [], `no stage left on ${s.host.name}`)
  }
}

test('three hosts under load: fleet cp switches all; an alternating client never reads new then old; no request fails; fleet status agrees', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t)
  const loads = serves.map((s) => load(s.port, { paths: ['/label'], concurrency: 4 }))
  let running = true
  let seenNew = false
  const reads: string[] = []
  const backwards: string[] = []
  const alternating = (async () => {
    for (let i = 0; running; i++) {
      const s = serves[i % serves.length] as RemoteServe
      const label = (await request(s.port, '/label')).json().label as string
      reads.push(`${s.host.name}:${label}`)
      if (label === 'v1') seenNew = true
      else if (seenNew) backwards.push(`read ${i}: ${s.host.name} served ${label} after v1 was read`)
    }
  })()
  const v1 = pushable(cwd, 'v1')
  const r = await cli(['fleet', 'cp', v1.path, LIVE], { cwd, timeoutMs: 40_000 })
  // A few more rounds after the switch: every host is read on the new file.
  const after = reads.length
  await waitUntil('three more alternating reads', () => reads.length >= after + 3, 10_000)
  running = false
  await alternating
  const stats = await Promise.all(loads.map(async (l) => await l.stop()))
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'OK\n')
  // The skew is from the hosts' own resume times (one clock here): never unknown with these hosts.
  const summary = /fleet cp to .*: 3 hosts switched to .*; staged in (\d+) ms \(the slowest host\); pause (host1 [\d.]+ ms, host2 [\d.]+ ms, host3 [\d.]+ ms); skew between the first and the last resume ([\d.]+ ms) \(the hosts' clocks\); go → resume (host1 [\d.]+ ms, host2 [\d.]+ ms, host3 [\d.]+ ms); held over host1 forwarded socket, host2 forwarded socket, host3 forwarded socket$/m.exec(r.stderr)
  assert.ok(summary, r.stderr)
  t.diagnostic(`staged on 3 hosts in ${summary[1] as string} ms; pause per host: ${summary[2] as string}; skew between the first and the last resume: ${summary[3] as string}; go → resume: ${summary[4] as string}`)
  assert.deepEqual(backwards, [], `alternating reads: ${reads.join(' ')}`)
  assert.ok(seenNew, 'the alternating client read the new file')
  for (const [i, s] of stats.entries()) {
    assert.equal(s.failed, 0, `${serves[i]?.host.name ?? '?'}: ${s.errors.join('; ')}`)
    assert.ok(s.ok > 0)
  }
  await unchanged(serves, 'v1')

  // The decision was recorded on the coordinator's disk, and ended committed.
  const records = readdirSync(join(cwd, '.hotswap', 'fleet')).filter((n) => n.endsWith('.json'))
  assert.equal(records.length, 1)
  const record = JSON.parse(readFileSync(join(cwd, '.hotswap', 'fleet', records[0] as string), 'utf8')) as { state: string, hosts: Array<{ name: string, outcome: string }> }
  assert.equal(record.state, 'committed')
  assert.deepEqual(record.hosts.map((h) => [h.name, h.outcome]), fleet.hosts.map((h) => [h.name, 'switched']))

  const st = await cli(['fleet', 'status', LIVE], { cwd })
  assert.equal(st.code, 0, st.stderr)
  assert.match(st.stdout.toString(), /^the fleet agrees: live sha256:[0-9a-f]{12} on 3 hosts$/m)
  const json = await cli(['fleet', 'status', '--json'], { cwd })
  assert.equal(json.code, 0, json.stderr)
  const report = JSON.parse(json.stdout.toString()) as { agrees: boolean, hosts: Array<{ name: string, reachable: boolean, workers: { ready: number, total: number }, databases: Array<{ generation: number }> }> }
  assert.equal(report.agrees, true)
  for (const h of report.hosts) {
    assert.equal(h.reachable, true)
    assert.deepEqual(h.workers, { ready: 2, total: 2 })
    assert.equal(h.databases[0]?.generation, 2)
  }

  // From stdin (spooled, then sent to every host), to the database by its name.
  const piped = await cli(['fleet', 'cp', '-', 'live'], { cwd, input: pushable(cwd, 'v2').bytes, timeoutMs: 40_000 })
  assert.equal(piped.code, 0, piped.stderr)
  assert.equal(piped.stdout.toString(), 'OK\n')
  await unchanged(serves, 'v2')

  // One host pushed on its own: the fleet no longer agrees, and status says which host differs.
  const [host1] = fleet.hosts as [Host]
  const pushed = await fleet.hotswap(host1, ['cp', '-', LIVE], { input: pushable(cwd, 'v3').bytes })
  assert.equal(pushed.code, 0, pushed.stderr)
  const split = await cli(['fleet', 'status', LIVE], { cwd })
  assert.equal(split.code, 1, split.stderr)
  assert.match(split.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_DISAGREES\] the fleet does not agree: live: host1 sha256:[0-9a-f]{12} vs host2, host3 sha256:[0-9a-f]{12}$/m)
})

test('a host refuses at its stage (its live schema differs), at its pause (its file held open by another process), or cannot be reached (its sshd stopped): every stage aborted, every host unchanged, exit 1 naming the host', async (t) => {
  const { fleet, serves, cwd } = await startFleet(t, { seedOf: (h) => h.name === 'host2' ? { extraSql: 'CREATE TABLE extra (x INTEGER);' } : {} })
  const [host1, host2, host3] = fleet.hosts as [Host, Host, Host]
  const v1 = pushable(cwd, 'v1')

  const refused = await cli(['fleet', 'cp', v1.path, LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(refused.code, 1, refused.stderr)
  assert.equal(refused.stdout.toString(), '')
  assert.match(refused.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by host2; every stage aborted, nothing changed on any host$/m)
  assert.match(refused.stderr, /^ {2}host2: HOTSWAP_ERR_SCHEMA_MISMATCH stage: /m)
  assert.match(refused.stderr, /extra/, 'the schema diff of host2 is shown')
  assert.match(refused.stderr, /^ {2}host1: staged [0-9a-f]{8} .*\n {4}its stage [0-9a-f]{8} aborted$/m)
  await unchanged(serves)
  assert.deepEqual(decisions(cwd), [], 'no decision was recorded (the stages\' record went with them)')

  // host1's live file held open by an outside process: host1 refuses at its pause (holders are
  // checked then); host3, ready or paused, is told to abort and resumes on its old file.
  const outsider = new Outsider(join(host1.dir, LIVE))
  t.after(async () => { await outsider.kill() })
  await outsider.ready()
  for (const cmd of ['open', 'query']) assert.equal((await outsider.run(cmd)).ok, true, cmd)
  const busy = await cli(['fleet', 'cp', v1.path, LIVE, '--hosts', `${host1.name},${host3.name}`], { cwd, timeoutMs: 40_000 })
  await outsider.kill()
  assert.equal(busy.code, 1, busy.stderr)
  assert.match(busy.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: host1 did not pause; every host resumed on its old file, nothing changed on any host$/m)
  assert.match(busy.stderr, /^ {2}host1: HOTSWAP_ERR_DB_BUSY pause: /m)
  assert.match(busy.stderr, /^ {2}host3: (not paused yet|paused), told to abort: resumed on its old file\n {4}its stage aborted$/m)
  await unchanged(serves)
  const [decided] = readdirSync(join(cwd, '.hotswap', 'fleet'))
  assert.equal((JSON.parse(readFileSync(join(cwd, '.hotswap', 'fleet', decided as string), 'utf8')) as { state: string }).state, 'aborted')

  // The coordinator SIGTERMed while host1 is paused and host3 still drains a slow request: it
  // tells every host to abort, aborts the stages, and exits 1; nothing changed anywhere.
  const locks = (): number => (serves[0] as RemoteServe).logs().filter((l) => /^lock taken/.test(String(l.message))).length
  const locksBefore = locks()
  const leases = (): number => (serves[2] as RemoteServe).logs().filter((l) => /^lease fleet taken/.test(String(l.message))).length
  const leasesBefore = leases()
  const coordinatorProcess = spawn(process.execPath, [BIN, 'fleet', 'cp', v1.path, LIVE, '--hosts', `${host1.name},${host3.name}`], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  // The slow request starts once the cp holds the fleet's lease (its stages come next): it still
  // runs when host3 is told to pause, however long the lease took.
  await waitUntil('the fleet cp to lease host3', () => leases() > leasesBefore, 20_000)
  const slow = request((serves[2] as RemoteServe).port, '/slow?ms=6000')
  let interruptedErr = ''
  coordinatorProcess.stderr.setEncoding('utf8').on('data', (d: string) => { interruptedErr += d })
  const exited = new Promise<number | null>((resolve) => coordinatorProcess.once('close', resolve))
  await waitUntil('host1 to pause for the fleet cp', () => locks() > locksBefore, 20_000)
  await sleep(300)
  coordinatorProcess.kill('SIGTERM')
  assert.equal(await exited, 1, interruptedErr)
  assert.match(interruptedErr, /^SIGTERM: stopping the fleet cp; every stage is aborted, nothing is switched$/m)
  assert.match(interruptedErr, /^ERROR \[HOTSWAP_ERR_ABORTED\] fleet cp to db\/live\.sqlite3: interrupted by SIGTERM before the switch; every host resumed on its old file, nothing changed on any host$/m)
  assert.equal((await slow).json().label, 'v0', 'the slow request finished on the old file')
  await unchanged(serves)

  // host3's sshd stopped and its control master gone: ssh to it is refused at the stage.
  process.kill(host3.sshdPid, 'SIGTERM')
  await waitUntil('host3 sshd to stop', () => !isRunning(host3.sshdPid), 10_000)
  await runProcess('ssh', ['-F', fleet.config, '-O', 'exit', host3.name], { cwd })
  const unreachable = await cli(['fleet', 'cp', v1.path, LIVE, '--hosts', `${host1.name},${host3.name}`], { cwd, timeoutMs: 40_000 })
  assert.equal(unreachable.code, 1, unreachable.stderr)
  assert.match(unreachable.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_REFUSED\] fleet cp to db\/live\.sqlite3: refused by host3; /m)
  assert.match(unreachable.stderr, /^ {2}host3: HOTSWAP_ERR_UNREACHABLE stage: ssh failed: .*Connection refused/m)
  await unchanged(serves)
  const status = await cli(['fleet', 'status', LIVE, '--hosts', `${host1.name},${host3.name}`], { cwd })
  assert.equal(status.code, 1)
  assert.match(status.stdout.toString(), /^host3 {2}unreachable {2}HOTSWAP_ERR_UNREACHABLE /m)
  assert.match(status.stderr, /^ERROR \[HOTSWAP_ERR_UNREACHABLE\] the fleet does not agree: unreachable: host3; live: host1 digest unknown$/m)
  assert.equal(host2.name, 'host2')
})

test('bad fleet input: no hosts, an unknown key, a host name ssh would read as an option: coded errors, nothing run', async (t) => {
  const dir = { dir: testDir(t) }
  const noHosts = await cli(['fleet', 'status'], { cwd: dir.dir })
  assert.equal(noHosts.code, 2)
  assert.match(noHosts.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] no hosts: /)
  const option = await cli(['fleet', 'status', '--hosts', 'web1,-oProxyCommand=touch x'], { cwd: dir.dir })
  assert.equal(option.code, 2)
  assert.match(option.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] --hosts: the host name "-oProxyCommand=touch x" starts with "-"/)
  for (const [fleetSection, field] of [[{ hots: ['a'] }, 'fleet.hots'], [{ hosts: 'a' }, 'fleet.hosts'], [{ hosts: [{ name: 'a', remot: 'x' }] }, 'fleet.hosts[0].remot'], [{ hosts: ['a'], hold: 'x' }, 'fleet.hold']] as const) {
    writeFileSync(join(dir.dir, 'hotswap.config.json'), JSON.stringify({ fleet: fleetSection }))
    const r = await cli(['fleet', 'status'], { cwd: dir.dir })
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`^ERROR \\[HOTSWAP_ERR_CONFIG\\] .*hotswap\\.config\\.json: "${field.replace(/[[\].]/g, '\\$&')}" `))
  }
})

test('votes that differ (one host not in WAL mode) abort everything; after the go, a host whose commit fails although its new file is live (a worker failed its resume) counts as switched, no undo', async (t) => {
  // host3's live database is not in WAL mode: the file it stages (set to its journal mode) is not
  // the same bytes as host1's, and the hosts' votes differ.
  const { fleet, serves, cwd } = await startFleet(t, { app: fixture('resume-fail-app.mjs'), seedOf: (h) => h.name === 'host3' ? { wal: false } : {} })
  const [host1, host2, host3] = fleet.hosts as [Host, Host, Host]
  const v1 = pushable(cwd, 'v1')
  const differ = await cli(['fleet', 'cp', v1.path, LIVE, '--hosts', `${host1.name},${host3.name}`], { cwd, timeoutMs: 40_000 })
  assert.equal(differ.code, 1, differ.stderr)
  assert.match(differ.stderr, /^ERROR \[HOTSWAP_ERR_FLEET_MISMATCH\] fleet cp to db\/live\.sqlite3: the hosts staged files that differ; every stage aborted, nothing changed on any host$/m)
  const voted = [...differ.stderr.matchAll(/^ {2}(host\d): staged [0-9a-f]{8} \((sha256:[0-9a-f]{12}), /gm)].map((m) => [m[1], m[2]])
  assert.equal(voted.length, 2, differ.stderr)
  assert.notEqual(voted[0]?.[1], voted[1]?.[1])
  await unchanged(serves)

  writeFileSync(join(host2.dir, 'resume-throws'), '')
  const r = await cli(['fleet', 'cp', v1.path, LIVE, '--hosts', `${host1.name},${host2.name}`], { cwd, timeoutMs: 40_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'OK\n')
  assert.match(r.stderr, /: 2 hosts switched to /)
  const [name] = readdirSync(join(cwd, '.hotswap', 'fleet'))
  const record = JSON.parse(readFileSync(join(cwd, '.hotswap', 'fleet', name as string), 'utf8')) as { state: string, hosts: Array<{ name: string, outcome: string }> }
  assert.equal(record.state, 'committed')
  assert.deepEqual(record.hosts.map((h) => h.outcome), ['switched', 'switched on a retry'])
  await waitUntil('host2 serves v1 from a replaced worker', async () => (await request(serves[1]?.port as number, '/label')).json().label === 'v1', 20_000)
  await unchanged(serves.slice(0, 2), 'v1')
})
