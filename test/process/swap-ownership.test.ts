// A swap keeps the live file's owner, group and mode. A push made
// root:daemon 0640 into root:root 0640 and locked the group's readers out. The installed file now
// gets the replaced file's owner and group (where the server may set them: any as root, a group
// it belongs to otherwise), and a push that cannot keep them is refused before the pause.
// Tests run as root; the server runs as root, then as nobody.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { cli, folderForOtherUsers, labelOf, leftovers, request, seed, type Served, startServe, walSource } from '../support/index.js'

const NOBODY = 65534
const DAEMON = 1

const t = folderForOtherUsers() // nobody's server must reach its folder

function ownership (path: string): { uid: number, gid: number, mode: number } {
  const st = statSync(path)
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }
}

/**
 * `t.dir/NAME/live.sqlite3` (label v0), made ready by `setup` (owners and modes), then served by
 * root, or by `as`.
 */
async function serveLive (name: string, setup: (dir: string, live: string) => void, as?: { uid: number, gid: number }): Promise<{ dir: string, live: string, served: Served }> {
  const dir = join(t.dir, name)
  const live = join(dir, 'live.sqlite3')
  mkdirSync(dir)
  seed(live, { label: 'v0' })
  setup(dir, live)
  const served = await startServe({ dir, dbs: [live], workers: 1, as })
  t.servers.push(served)
  return { dir, live, served }
}

test('as root: every way in keeps the live file\'s owner, group and mode (1:1 0640, then 0:1 0640)', async () => {
  const { dir, live, served } = await serveLive('root', (_dir, live) => {
    chownSync(live, DAEMON, DAEMON)
    chmodSync(live, 0o640)
  })
  let n = 0
  for (const want of [{ uid: DAEMON, gid: DAEMON, mode: 0o640 }, { uid: 0, gid: DAEMON, mode: 0o640 }]) {
    chownSync(live, want.uid, want.gid)
    chmodSync(live, want.mode)
    // By path (the server copies it), by stdin (streamed), and a source with a -wal (read
    // through SQLite into the temp file): three ways the temp file is made.
    const byPath = join(dir, `path-${++n}.sqlite3`)
    seed(byPath, { label: `path-${n}` })
    let res = await cli(['cp', byPath, 'live', '--socket', served.socket], { cwd: dir })
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual(ownership(live), want, 'cp FILE LIVE')
    assert.equal(labelOf(live), `path-${n}`)

    const streamed = join(dir, `stdin-${n}.sqlite3`)
    seed(streamed, { label: `stdin-${n}` })
    res = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: dir, input: readFileSync(streamed) })
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual(ownership(live), want, 'cp - LIVE')
    assert.equal(labelOf(live), `stdin-${n}`)

    const wal = join(dir, `wal-${n}.sqlite3`)
    const holder = walSource(wal, `wal-${n}`)
    try {
      res = await cli(['cp', wal, 'live', '--socket', served.socket], { cwd: dir })
    } finally {
      holder.close()
    }
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual(ownership(live), want, 'cp FILE-with-wal LIVE')
    assert.equal((await request(served.port, '/label')).json().label, `wal-${n}`)
  }
  assert.deepEqual(leftovers(dir), [])
})

test('as nobody: a group it is in is kept; an owner it cannot give is refused before the pause', async () => {
  // A set-group-id directory of group nogroup: the server's temp files start in nogroup. The
  // server runs as nobody with daemon as its group, so it may (and must) give them daemon.
  const { dir, live, served } = await serveLive('nobody', (dir, live) => {
    chownSync(dir, NOBODY, NOBODY)
    chmodSync(dir, 0o2755)
    chownSync(live, NOBODY, DAEMON)
    chmodSync(live, 0o640)
  }, { uid: NOBODY, gid: DAEMON })

  const next = join(dir, 'next.sqlite3')
  seed(next, { label: 'v1' })
  let res = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: dir, input: readFileSync(next) })
  assert.equal(res.code, 0, res.stderr)
  assert.deepEqual(ownership(live), { uid: NOBODY, gid: DAEMON, mode: 0o640 })
  assert.equal((await request(served.port, '/label')).json().label, 'v1')

  // Owned by root now, group-writable for daemon: nobody may write it but not give a file to root.
  chownSync(live, 0, DAEMON)
  chmodSync(live, 0o660)
  const third = join(dir, 'third.sqlite3')
  seed(third, { label: 'v2' })
  res = await cli(['cp', '-', 'live', '--socket', served.socket], { cwd: dir, input: readFileSync(third) })
  assert.equal(res.code, 1)
  assert.match(res.stderr, /^ERROR \[HOTSWAP_ERR_DESTINATION\] .*owned by 0:1.*cannot give the new file/m)
  assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr)
  assert.deepEqual(ownership(live), { uid: 0, gid: DAEMON, mode: 0o660 }, 'the live file is untouched')
  assert.equal(labelOf(live), 'v1')
  assert.equal((await request(served.port, '/label')).json().label, 'v1')
  const pauses = served.logs().filter((l) => /^pause window/.test(String(l.message)))
  assert.equal(pauses.length, 1, 'the refused push never paused the workers')
  assert.deepEqual(leftovers(dir), [])
})
