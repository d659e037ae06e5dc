// `fleet cp` on a terminal (its stderr a pseudo-terminal: run under `script`) draws one line per
// host, redrawn in place as the host goes on: its bytes pushed, its validation, its vote, then its
// switch, and ends with the summary line (the hosts, the pause of each, the skew between the first
// and the last resume). With stderr not a terminal, the summary line alone.

import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { BIN, cli, pushable, runProcess, seed, sh, startHosts, testDir } from '../support/index.js'

const LIVE = 'db/live.sqlite3'

/** What a terminal showed, one entry per line drawn (each redraw of a line is an entry). */
function drawn (screen: string): string[] {
  // eslint-disable-next-line no-control-regex
  return screen.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split(/[\r\n]+/).filter((l) => l !== '')
}

test('on a terminal: per host its bytes, validation, vote, pause and switch, then the summary; not on a terminal: the summary alone', async (t) => {
  const fleet = await startHosts(t, 2)
  for (const host of fleet.hosts) seed(join(host.dir, LIVE), { label: 'v0' })
  await Promise.all(fleet.hosts.map(async (host) => await fleet.serveOn(host)))
  const cwd = testDir(t)
  writeFileSync(join(cwd, 'hotswap.config.json'), JSON.stringify({
    fleet: { hosts: fleet.hosts.map((h) => ({ name: h.name, remote: `cd ${sh(h.dir)} && ${sh(process.execPath)} ${sh(BIN)}` })), sshConfig: fleet.config },
  }))

  const v1 = pushable(cwd, 'v1', 2000)
  const onTty = await runProcess('script', ['-qec', `${sh(process.execPath)} ${sh(BIN)} fleet cp ${sh(v1.path)} ${LIVE}`, '/dev/null'], { cwd, timeoutMs: 40_000 })
  const lines = drawn(onTty.stdout.toString())
  assert.equal(onTty.code, 0, lines.join('\n'))
  const size = `${(v1.bytes.length / 1024).toFixed(1)} KiB`
  for (const host of ['host1', 'host2']) {
    for (const re of [
      new RegExp(`^${host} {2}push ${size} in [\\d.]+ s( \\(.*/s\\))?, validating…$`),
      new RegExp(`^${host} {2}voted sha256:[0-9a-f]{12} \\(checked against generation 1\\) in \\d+ ms$`),
      new RegExp(`^${host} {2}paused \\(its requests queue\\)$`),
      new RegExp(`^${host} {2}switched: pause [\\d.]+ ms, go → resume [\\d.]+ ms$`),
    ]) assert.ok(lines.some((l) => re.test(l)), `${re.source} in:\n${lines.join('\n')}`)
  }
  const summary = lines.findIndex((l) => /^fleet cp to db\/live\.sqlite3: 2 hosts switched to sha256:[0-9a-f]{12}; .*; skew between the first and the last resume [\d.]+ ms \(the hosts' clocks\); /.test(l))
  assert.ok(summary > 0, lines.join('\n'))
  assert.deepEqual(lines.slice(summary + 1), ['OK'], 'the summary, then OK, after the last drawing')

  const v2 = pushable(cwd, 'v2', 2000)
  const plain = await cli(['fleet', 'cp', v2.path, LIVE], { cwd, timeoutMs: 40_000 })
  assert.equal(plain.code, 0, plain.stderr)
  assert.equal(plain.stdout.toString(), 'OK\n')
  assert.match(plain.stderr, /^fleet cp to db\/live\.sqlite3: 2 hosts switched to [^\n]*\n$/, 'one line on stderr: no drawing')
})
