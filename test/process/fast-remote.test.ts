// `history`, `status` and `lease` in their plain shapes skip oclif (src/client/fast-remote.ts):
// against a real serve, each prints what the oclif path prints (reached with --socket, which the
// fast path hands over) and exits alike; with no server, the same coded error and exit status.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli, seed, startServe, tempDir } from '../support/index.js'

test('history, status and lease: the fast path and oclif print the same and exit alike', async (t) => {
  const dir = tempDir()
  t.after(() => { dir.cleanup() })
  const live = join(dir.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  const s = await startServe({ dir: dir.dir, dbs: [live], workers: 1 })
  t.after(async () => { await s.stop() })
  const fast = async (args: string[]): Promise<Awaited<ReturnType<typeof cli>>> => await cli(args, { cwd: dir.dir, env: { HOTSWAP_SOCKET: s.socket } })
  const oclif = async (args: string[]): Promise<Awaited<ReturnType<typeof cli>>> => await cli([...args, '--socket', s.socket], { cwd: dir.dir })

  for (const args of [['history'], ['history', 'live', '--json'], ['history', '--json'], ['history', 'nosuch']]) {
    const [a, b] = [await fast(args), await oclif(args)]
    assert.equal(a.code, b.code, `${args.join(' ')}: ${a.stderr} / ${b.stderr}`)
    assert.equal(a.stdout.toString(), b.stdout.toString(), args.join(' '))
    assert.equal(a.stderr, b.stderr, args.join(' '))
  }
  assert.equal((await fast(['history', 'nosuch'])).code, 1)
  const [a, b] = [await fast(['status', '--json']), await oclif(['status', '--json'])]
  assert.equal(a.code, 0, a.stderr)
  assert.equal(b.code, 0, b.stderr)
  const shape = (r: Awaited<ReturnType<typeof cli>>): unknown => {
    const j = JSON.parse(r.stdout.toString()) as { primary: Record<string, unknown>, workers: Array<Record<string, unknown>> }
    return { primary: Object.keys(j.primary).sort(), pid: j.primary.pid, socket: j.primary.socket, workers: j.workers.map((w) => [w.id, w.pid, w.state]) }
  }
  assert.deepEqual(shape(a), shape(b))
  // A lease: LEASED once held, released at the end of its input, by either path.
  for (const run of [fast, oclif]) {
    const r = await run(['lease', 'fleet', '--owner', 'test pid 1', '--ttl', '5000'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.toString(), 'LEASED\n')
  }

  // No server there: the same coded line and exit status from both paths.
  const gone = join(dir.dir, 'none.sock')
  for (const args of [['history', '--json'], ['status', '--json'], ['lease', 'fleet', '--owner', 'x']]) {
    const [x, y] = [await cli(args, { cwd: dir.dir, env: { HOTSWAP_SOCKET: gone } }), await cli([...args, '--socket', gone], { cwd: dir.dir })]
    assert.equal(x.code, y.code, args.join(' '))
    assert.match(x.stderr, /^ERROR \[HOTSWAP_ERR_NO_SERVER\] no hotswap server is listening on /m)
    assert.equal(x.stderr, y.stderr, args.join(' '))
  }
})
