// Bad `--metrics` and `--min-ready` values, from the flag (a usage error: exit 2), from
// HOTSWAP_METRICS and the config file (a configuration error: exit 1), and an address that
// cannot be listened on (taken): one coded line on stderr (oclif's details indented below it), no
// worker started, no socket left behind.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { cli, freePort, serveArgsForFile, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let sock: string
let serve: (...extra: string[]) => string[]

serveArgsForFile(2, (s) => { ({ t, socket: sock, serve } = s) })

async function refused (args: string[], code: number, error: RegExp, env: Record<string, string> = {}): Promise<void> {
  const r = await cli(args, { cwd: t.dir, env, timeoutMs: 20_000 })
  assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
  assert.match(r.stderr, error)
  assert.equal(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith(' ')).length, 1, `one line (details indented): ${r.stderr}`)
  assert.doesNotMatch(r.stdout.toString(), /worker \d+ started/, 'no worker started')
  assert.equal(existsSync(sock), false, 'no control socket left')
}

test('bad --metrics and --min-ready flags: usage errors, exit 2', async () => {
  for (const [value, message] of [
    ['9464', /^ERROR \[HOTSWAP_ERR_USAGE\] --metrics: "9464" is not an address; give HOST:PORT \(e\.g\. 127\.0\.0\.1:9464\) or a Unix socket path/],
    ['127.0.0.1:99999', /^ERROR \[HOTSWAP_ERR_USAGE\] --metrics: "127\.0\.0\.1:99999": the port must be a number from 1 to 65535/],
  ] as const) await refused(serve('--metrics', value), 2, message)
  await refused(serve('--metrics', '127.0.0.1:9464', '--min-ready', '0'), 2, /^ERROR \[HOTSWAP_ERR_USAGE\] .*--min-ready/)
})

test('from HOTSWAP_METRICS, HOTSWAP_MIN_READY and the config file: configuration errors, exit 1', async () => {
  await refused(serve(), 1, /^ERROR \[HOTSWAP_ERR_CONFIG\] environment: "HOTSWAP_METRICS" "localhost" is not an address/, { HOTSWAP_METRICS: 'localhost' })
  await refused(serve(), 1, /^ERROR \[HOTSWAP_ERR_CONFIG\] environment: "HOTSWAP_MIN_READY" must be an integer of at least 1/, { HOTSWAP_MIN_READY: 'all' })
  const config = join(t.dir, 'bad.json')
  writeFileSync(config, JSON.stringify({ metrics: 9464 }))
  await refused(serve('--config', config), 1, /^ERROR \[HOTSWAP_ERR_CONFIG\] .*bad\.json: "metrics" must be a string: HOST:PORT or a Unix socket path/)
  await refused(serve('--min-ready', '3'), 1, /^ERROR \[HOTSWAP_ERR_CONFIG\] --min-ready 3 is more than the 2 worker\(s\)/)
})

test('an address in use, a file at the socket path: an error naming it, nothing started, the file kept', async () => {
  const port = await freePort()
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve))
  try {
    await refused(serve('--metrics', `127.0.0.1:${port}`), 1, new RegExp(`^ERROR \\[HOTSWAP_ERR_CONFIG\\] cannot listen for metrics on 127\\.0\\.0\\.1:${port} \\(--metrics\\): the address is in use`))
  } finally {
    taken.close()
  }
  const notASocket = join(t.dir, 'metrics.txt')
  writeFileSync(notASocket, 'mine')
  await refused(serve('--metrics', notASocket), 1, /^ERROR \[HOTSWAP_ERR_SOCKET_IN_USE\] --metrics: .*metrics\.txt exists and is not a socket; refusing to replace it/)
  assert.equal(readFileSync(notASocket, 'utf8'), 'mine', 'the file at the socket path is left alone')
})
