// The files a push writes beside a database cannot be turned against it:
//   - temp files: 0600 while an upload is received, created with O_EXCL|O_NOFOLLOW, so a planted
//     file or symlink at the name is refused and its target untouched; orphan cleanup removes a
//     planted symlink, never what it points to;
//   - a symlinked --db: the swap renames over the target, in the target's directory, and the
//     link stays a link.
// (The socket file's rules are socket-safety.test.ts; frame size limits, gem-protocol.test.ts.)

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAfterFault, fixture, kill, labelOf, leftovers, push, rawClient, seed, type Served, sleep, startServe, status, tempDir, TrackedLoad } from '../support/index.js'
import { cleanupOrphans, copyPrivately, createExclusive, tempPathFor, tempPrefix } from '../../src/primary/sqlite/temp-files.js'

let t: ReturnType<typeof tempDir>
let served: Served
let realDir: string
let real: string
let link: string

before(async () => {
  t = tempDir()
  // The real file lives in another directory than the link the server is given.
  realDir = join(t.dir, 'data')
  mkdirSync(realDir)
  real = join(realDir, 'real.sqlite3')
  seed(real, { label: 'v0' })
  link = join(t.dir, 'link.sqlite3')
  symlinkSync(real, link)
  served = await startServe({ dir: t.dir, dbs: [`live=${link}`], workers: 2, app: fixture('faults-app.mjs') })
})

after(async () => {
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0, 'serve exits 0 on SIGTERM')
})

// ---------------------------------------------------------------------------------------------
// temp files

test('createExclusive refuses a planted symlink, a dangling symlink and a planted file; makes 0600 files', async () => {
  const dir = join(t.dir, 'plant')
  mkdirSync(dir)
  const victim = join(dir, 'victim')
  writeFileSync(victim, 'precious')
  const livePath = join(dir, 'live.sqlite3')

  // A symlink planted at a temp file's name, pointing at something the attacker wants written.
  const planted = tempPathFor(livePath)
  symlinkSync(victim, planted)
  await assert.rejects(createExclusive(planted), (err: NodeJS.ErrnoException) => err.code === 'EEXIST' || err.code === 'ELOOP')
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the symlink target was not opened for writing')

  // A dangling one: following it would create the target.
  const dangling = tempPathFor(livePath)
  const target = join(dir, 'would-be-created')
  symlinkSync(target, dangling)
  await assert.rejects(createExclusive(dangling), (err: NodeJS.ErrnoException) => err.code === 'EEXIST' || err.code === 'ELOOP')
  assert.equal(existsSync(target), false, 'nothing was created through the dangling link')

  // A plain file already there is not reused.
  const taken = tempPathFor(livePath)
  writeFileSync(taken, 'someone else\'s')
  await assert.rejects(createExclusive(taken), (err: NodeJS.ErrnoException) => err.code === 'EEXIST')
  assert.equal(readFileSync(taken, 'utf8'), 'someone else\'s')

  // A fresh name: created, 0600, whatever the umask.
  const previous = process.umask(0)
  try {
    const fresh = tempPathFor(livePath)
    const fh = await createExclusive(fresh)
    await fh.close()
    assert.equal(statSync(fresh).mode & 0o777, 0o600)
  } finally {
    process.umask(previous)
  }

  // Names are random (48 bits), in the live file's directory, under the prefix cleanup looks for.
  const names = Array.from({ length: 2000 }, () => tempPathFor(livePath))
  assert.equal(new Set(names).size, names.length)
  for (const p of names.slice(0, 20)) {
    assert.ok(p.startsWith(join(dir, tempPrefix(livePath))), p)
    assert.match(p, /\.live\.sqlite3\.hotswap-[0-9a-f]{12}\.tmp$/)
  }

  // Orphan cleanup at start removes the planted links themselves, never their targets.
  const removed = cleanupOrphans(livePath)
  assert.equal(removed.length, 4, `removed ${removed.join(', ')}`)
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.equal(existsSync(planted) || existsSync(dangling), false)
})

test('copyPrivately: a 0644 source lands 0600 through a private staging directory, and refuses a planted name', async () => {
  const dir = join(t.dir, 'copy')
  mkdirSync(dir)
  const livePath = join(dir, 'live.sqlite3')
  const src = join(dir, 'deploy.sqlite3')
  writeFileSync(src, 'x'.repeat(100_000))
  chmodSync(src, 0o644)

  // Copied through a 0700 staging directory beside it, so private from its first byte;
  // the result is 0600 whatever the umask and the source's mode.
  const dest = tempPathFor(livePath)
  const previous = process.umask(0)
  try {
    await copyPrivately(src, dest)
  } finally {
    process.umask(previous)
  }
  assert.equal(statSync(dest).mode & 0o777, 0o600)
  assert.equal(readFileSync(dest, 'utf8'), readFileSync(src, 'utf8'))
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.d-')), [], 'the staging directory is gone')

  // A symlink planted at the destination is neither followed nor replaced.
  const victim = join(dir, 'victim')
  writeFileSync(victim, 'precious')
  const planted = tempPathFor(livePath)
  symlinkSync(victim, planted)
  await assert.rejects(copyPrivately(src, planted), (err: NodeJS.ErrnoException) => err.code === 'EEXIST')
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.d-')), [], 'no staging directory is left after a refusal')

  // A staging directory left by a killed primary is removed at the next start, with its content.
  mkdirSync(`${tempPathFor(livePath)}.d-abc123`)
  writeFileSync(join(dir, readdirSync(dir).find((n) => n.includes('.d-')) as string, 'copy'), 'half')
  cleanupOrphans(livePath)
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith(tempPrefix(livePath))), [])
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
})

test('an upload is received into a 0600 regular file beside the symlink\'s target, not beside the link', async () => {
  const src = join(t.dir, 'held.sqlite3')
  seed(src, { label: 'never', rows: 60_000 })
  assert.equal(statSync(real).mode & 0o777, 0o644, 'the live file itself is 0644')
  const client = await rawClient(served.socket, src, 'middle-boundary', 'live')
  try {
    for (let i = 0; i < 500 && leftovers(realDir).length === 0; i++) await sleep(10)
    const [name] = leftovers(realDir)
    assert.ok(name !== undefined, 'the temp file is in the target\'s directory (same filesystem as the rename)')
    assert.match(name, /^\.real\.sqlite3\.hotswap-[0-9a-f]{12}\.tmp$/)
    const st = lstatSync(join(realDir, name))
    assert.ok(st.isFile() && !st.isSymbolicLink())
    assert.equal(st.mode & 0o777, 0o600, 'private while it is received')
    assert.deepEqual(leftovers(t.dir), [], 'nothing beside the link')
  } finally {
    kill(client.proc.pid as number)
    await client.exited
  }
  for (let i = 0; i < 200 && leftovers(realDir).length > 0; i++) await sleep(10)
  assert.deepEqual(leftovers(realDir), [])
})

test('a symlinked --db is swapped at its target and the link stays a link', async () => {
  const st = await status(served.socket)
  assert.equal(st.databases[0]?.path, real, 'the server resolved the link once, at start-up')
  const load = new TrackedLoad(served.port)
  const src = join(t.dir, 'via-link.sqlite3')
  seed(src, { label: 'via-link', rows: 500 })
  let byLink, byName
  try {
    // By the link's path (resolved against the server's directory) and by name.
    byLink = await push(served.socket, readFileSync(src), [], 'link.sqlite3')
    seed(join(t.dir, 'by-name.sqlite3'), { label: 'by-name', rows: 500 })
    byName = await push(served.socket, readFileSync(join(t.dir, 'by-name.sqlite3')), [], 'live')
  } finally {
    await load.stop()
  }
  assert.equal(byLink.control?.exit, 0, byLink.stderr)
  assert.equal(byName.control?.exit, 0, byName.stderr)
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a symlink')
  assert.equal(readlinkSync(link), real, 'pointing where it did')
  assert.equal(labelOf(real), 'by-name')
  await checkAfterFault({ live: real, port: served.port, socket: served.socket, allowed: ['by-name'] })
  assert.deepEqual(load.unexplained(), [], load.summary())
  assert.deepEqual(leftovers(t.dir), [])
})
