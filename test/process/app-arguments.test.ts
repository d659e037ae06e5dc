// The app's arguments and node's flags: what follows `--` on serve's command line is the app's
// process.argv (after its own path, as `node app.js ARGS` gives it), never serve's flags; each
// --node-option is a node flag in every worker's execArgv. A value that cannot be either is one
// clear error before anything starts.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { errorLine, fixture, freePort, request, seed, type Served, serveToExit, startServeArgs, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let live: string
let served: Served | undefined

before(async () => {
  t = tempDir()
  live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v0' })
  const port = await freePort()
  const socket = join(t.dir, 'sock', 'hotswap.sock')
  served = await startServeArgs({
    dir: t.dir,
    port,
    socket,
    waitListening: 2,
    args: [fixture('argv-app.mjs'), '--workers', '2', '--port', String(port), '--socket', socket, '--db', live,
      '--node-option=--max-old-space-size=123', '--node-option', '--expose-gc',
      '--', '--mode', 'fast', '--workers', '9', 'plain word'],
  })
})

after(async () => {
  const code = await served?.stop()
  t.cleanup()
  assert.equal(code, 0)
})

test('arguments after -- are the app\'s process.argv; --node-option reaches every worker\'s execArgv', async () => {
  const seen = new Map<number, Record<string, unknown>>()
  for (let i = 0; i < 20 && seen.size < 2; i++) {
    const body = (await request(served!.port, '/argv', { keepAlive: false })).json()
    seen.set(body.pid as number, body)
  }
  assert.equal(seen.size, 2, 'both workers answered')
  for (const body of seen.values()) {
    // `--workers 9` after -- is the app's, not serve's (serve runs 2).
    assert.deepEqual(body.args, ['--mode', 'fast', '--workers', '9', 'plain word'])
    assert.equal(body.argv1, fixture('argv-app.mjs'), 'process.argv[1] is the app, as under plain node')
    assert.ok((body.execArgv as string[]).includes('--max-old-space-size=123'), JSON.stringify(body.execArgv))
    assert.ok((body.execArgv as string[]).includes('--expose-gc'))
    assert.equal(body.gc, true, '--expose-gc took effect')
  }
})

test('the config file\'s "args" and "nodeOptions" do the same', async () => {
  const dir = join(t.dir, 'from-config')
  const port = await freePort()
  const socket = join(dir, 'hotswap.sock')
  mkdirSync(dir)
  seed(join(dir, 'copy.sqlite3'), { label: 'copy' })
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    app: fixture('argv-app.mjs'), db: 'copy.sqlite3', workers: 1, port, socket: 'hotswap.sock', args: ['from', 'config'], nodeOptions: ['--stack-trace-limit=7'],
  }))
  const s = await startServeArgs({ dir, port, socket, waitListening: 1, args: [] })
  try {
    const body = (await request(port, '/argv', { keepAlive: false })).json()
    assert.deepEqual(body.args, ['from', 'config'])
    assert.ok((body.execArgv as string[]).includes('--stack-trace-limit=7'))
  } finally {
    assert.equal(await s.stop(), 0)
  }
})

test('bad values: a --node-option that is no flag (exit 2), one node refuses (exit 1), an extra argument before -- (exit 2), a bad "args"', async () => {
  const base = [fixture('argv-app.mjs'), '--workers', '1', '--db', live, '--socket', join(t.dir, 'bad.sock')]
  const notFlag = await serveToExit([...base, '--node-option', 'max-old-space-size=1'], { cwd: t.dir })
  assert.equal(notFlag.code, 2, notFlag.stderr)
  assert.match(errorLine(notFlag.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] --node-option takes node flags, each starting with "-" \(got "max-old-space-size=1"\); arguments for the app go after --$/)

  const refused = await serveToExit([...base, '--node-option=--no-such-node-flag-o4'], { cwd: t.dir })
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(errorLine(refused.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] --node-option: node refuses --no-such-node-flag-o4: .*bad option: --no-such-node-flag-o4/)
  assert.doesNotMatch(refused.stdout.toString(), /worker 1 started/, 'no worker was forked')

  const extra = await serveToExit([...base, 'stray'], { cwd: t.dir })
  assert.equal(extra.code, 2, extra.stderr)
  assert.match(errorLine(extra.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] Unexpected argument: stray/)

  const dir = join(t.dir, 'bad-args')
  mkdirSync(dir)
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({ args: '--mode fast' }))
  const badArgs = await serveToExit([...base], { cwd: dir })
  assert.equal(badArgs.code, 1, badArgs.stderr)
  assert.match(errorLine(badArgs.stderr), /^ERROR \[HOTSWAP_ERR_CONFIG\] .*hotswap\.config\.json: "args" must be an array of strings$/)
})
