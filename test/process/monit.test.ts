// `hotswap monit` on a real terminal (a tmux pane, read back): it shows every worker's pid and
// every database's name, the swap the test made (generation 2 and its pause), picks a worker
// with a key, quits on q with status 0, and says so when the server is gone. Its CPU at the
// default refresh is printed (the ≤ 3% target is the bench's; no timing is asserted here). Not
// on a terminal, or with a bad --interval, it is one clear usage error.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli, cpuSecondsOf, errorLine, HOTSWAP, inTmux, pushable, seed, type Served, serveForFile, sleep, startServe, statusJson, type TmuxPane, tempDir, waitUntil } from '../support/index.js'

let served: Served
let t: ReturnType<typeof tempDir>
const panes: TmuxPane[] = []

after(() => { for (const p of panes) p.close() })

serveForFile(async (dir) => {
  seed(join(dir.dir, 'live.sqlite3'), { label: 'v0' })
  seed(join(dir.dir, 'cache.sqlite3'), { label: 'c0' })
  return await startServe({ dir: dir.dir, dbs: [join(dir.dir, 'live.sqlite3'), join(dir.dir, 'cache.sqlite3')], workers: 2 })
}, (s) => { ({ t, served } = s) })

function monitPane (socket: string): TmuxPane {
  const pane = inTmux(`${HOTSWAP} monit --socket '${socket}'`, { cwd: t.dir, width: 120, height: 40 })
  panes.push(pane)
  return pane
}

test('the screen shows the workers\' pids, the databases, the last swap; a key picks a worker; q quits', async (tt) => {
  const next = pushable(join(t.dir), 'v1')
  const cp = await cli(['cp', next.path, 'live', '--socket', served.socket], { cwd: t.dir })
  assert.equal(cp.code, 0, cp.stderr)
  const { workers } = await statusJson(served.socket, t.dir)
  const pane = monitPane(served.socket)
  // Two refreshes: the second has the rates (cpu%, req/s) of the first interval.
  const screen = await waitUntil('monit to draw the workers with their rates', () => {
    const s = pane.screen()
    return workers.every((w) => new RegExp(`^\\s+${w.id}\\s+${w.pid}\\s+ready\\s+\\d+\\.\\d\\s`, 'm').test(s)) ? s : false
  })
  assert.match(screen, new RegExp(`primary pid ${served.pid}`))
  assert.match(screen, /^\s+live\s+\d+\.\d KiB\s+wal\s+2\s+1\s+\S+ last [\d.]+ ms/m, screen)
  assert.match(screen, /^\s+cache\s+\d+\.\d KiB\s+wal\s+1\s+0\s+-/m, screen)
  // The log pane reads the server's ring of records: the push's own lines, made before monit ran.
  const logged = await waitUntil('the log pane to show the server\'s records', () => { const s = pane.screen(); return /swap: pause window [\d.]+ ms for live/.test(s) ? s : false })
  assert.match(logged, /swap: pause window [\d.]+ ms for live/)

  // CPU over a few seconds of the default refresh, printed (pm2 #2793: pm2's takes a core).
  const cpu0 = cpuSecondsOf(pane.pid)
  const started = performance.now()
  await sleep(3000)
  const percent = (cpuSecondsOf(pane.pid) - cpu0) / ((performance.now() - started) / 1000) * 100
  tt.diagnostic(`monit CPU at its default refresh: ${percent.toFixed(2)}% of a core`)

  pane.keys('Down')
  const picked = await waitUntil('a worker picked', () => { const s = pane.screen(); return /^▶ 1\s/m.test(s) && /^log of worker 1 \(pid \d+/m.test(s) ? s : false })
  assert.match(picked, new RegExp(`^▶ 1\\s+${workers.find((w) => w.id === 1)?.pid ?? 0}\\s`, 'm'))
  pane.keys('q')
  assert.equal(await waitUntil('monit to exit on q', () => pane.exitStatus() ?? false), 0)
})

test('with no server it says so on the screen, and still quits on Ctrl-C', async () => {
  const pane = monitPane(join(t.dir, 'nobody.sock'))
  await waitUntil('the error on the screen', () => /^! no hotswap server is listening on .*nobody\.sock/m.test(pane.screen()))
  pane.keys('C-c')
  await waitUntil('monit to exit on Ctrl-C', () => pane.exitStatus() !== null)
})

test('not on a terminal, or a bad --interval: one usage error, exit 2', async () => {
  const piped = await cli(['monit', '--socket', served.socket], { cwd: t.dir })
  assert.equal(piped.code, 2, piped.stderr)
  assert.match(errorLine(piped.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] monit draws on a terminal: .*hotswap status --json/)
  for (const bad of ['50', 'abc']) {
    const res = await cli(['monit', '--interval', bad, '--socket', served.socket], { cwd: t.dir })
    assert.equal(res.code, 2, `--interval ${bad}: ${res.stderr}`)
    assert.match(errorLine(res.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] .*interval/)
  }
})
