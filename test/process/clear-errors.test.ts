// Three mistakes that were silent or a stack trace, each now one coded line
// on stderr with the documented exit status (usage 2, configuration 1):
//   - --log-file (or HOTSWAP_LOG_FILE) naming a directory: serve ran and logged nowhere;
//   - a socket path over the Unix limit (107 bytes): the kernel cut it, and serve listened on
//     (and clients reached) a socket of another name in another directory;
//   - a client run from a deleted working directory: a stack trace, or INTERNAL.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cli, type CliResult, fixture, liveForFile, seed, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let db: string

liveForFile({}, (s) => { ({ t, live: db } = s) })

function assertOneLine (r: CliResult, code: string, exit: number, what: string): void {
  assert.match(r.stderr, new RegExp(`^ERROR \\[${code}\\] [^\\n]+\\n$`), `${what}: one coded line (got ${JSON.stringify(r.stderr.slice(0, 400))})`)
  assert.equal(r.code, exit, `${what}: exit ${exit}`)
}

const serveArgs = (...extra: string[]): string[] => ['serve', fixture('app.mjs'), '--workers', '1', '--db', db, '--socket', join(t.dir, 's', 'h.sock'), ...extra]

test('a log file that is a directory stops serve at start-up with HOTSWAP_ERR_CONFIG', async () => {
  const logDir = join(t.dir, 'logs')
  mkdirSync(logDir)
  const byFlag = await cli(serveArgs('--log-file', logDir), { cwd: t.dir, timeoutMs: 20_000 })
  assertOneLine(byFlag, 'HOTSWAP_ERR_CONFIG', 1, '--log-file DIR')
  assert.match(byFlag.stderr, /is a directory/)
  const byEnv = await cli(serveArgs(), { cwd: t.dir, env: { HOTSWAP_LOG_FILE: logDir }, timeoutMs: 20_000 })
  assertOneLine(byEnv, 'HOTSWAP_ERR_CONFIG', 1, 'HOTSWAP_LOG_FILE=DIR')
  assert.equal(existsSync(join(t.dir, 's', 'h.sock')), false, 'serve never listened')
})

test('a socket path over 107 bytes: serve refuses it (CONFIG, exit 1), every client command too (USAGE, exit 2)', async () => {
  const deep = join(t.dir, 'd'.repeat(Math.max(1, 112 - t.dir.length)))
  mkdirSync(deep)
  const long = join(deep, 'hotswap.sock')
  assert.ok(Buffer.byteLength(long) > 107)
  const serve = await cli(['serve', fixture('app.mjs'), '--workers', '1', '--db', db, '--socket', long], { cwd: t.dir, timeoutMs: 20_000 })
  assertOneLine(serve, 'HOTSWAP_ERR_CONFIG', 1, 'serve --socket LONG')
  assert.match(serve.stderr, /at most 107/)
  const served = await cli(['serve', fixture('app.mjs'), '--workers', '1', '--db', db], { cwd: t.dir, env: { HOTSWAP_SOCKET: long }, timeoutMs: 20_000 })
  assertOneLine(served, 'HOTSWAP_ERR_CONFIG', 1, 'serve with HOTSWAP_SOCKET=LONG')
  // No socket was bound anywhere, in particular not at the cut path (inside the long name).
  const sockets = (dir: string): string[] => readdirSync(dir).filter((n) => lstatSync(join(dir, n)).isSocket())
  assert.deepEqual([...sockets(t.dir), ...sockets(deep)], [])

  const clients: Array<{ args: string[], env?: boolean }> = [{ args: ['status'], env: true }, { args: ['reload'] }, { args: ['cp', db, '-'] },
    { args: ['cp', '-', db], env: true }, { args: ['cp', db, join(t.dir, 'out.sqlite3'), '--force'] }]
  await Promise.all(clients.map(async ({ args, env }) => {
    const byFlag = await cli([...args, '--socket', long], { cwd: t.dir, input: Buffer.alloc(0) })
    assertOneLine(byFlag, 'HOTSWAP_ERR_USAGE', 2, `${args.join(' ')} --socket LONG`)
    if (env !== true) return
    const byEnv = await cli(args, { cwd: t.dir, input: Buffer.alloc(0), env: { HOTSWAP_SOCKET: long } })
    assertOneLine(byEnv, 'HOTSWAP_ERR_USAGE', 2, `HOTSWAP_SOCKET=LONG ${args.join(' ')}`)
  }))
})

test('a socket directory that cannot be created stops serve with HOTSWAP_ERR_CONFIG, not INTERNAL', async () => {
  writeFileSync(join(t.dir, 'a-file'), '')
  const r = await cli(['serve', fixture('app.mjs'), '--workers', '1', '--db', db, '--socket', join(t.dir, 'a-file', 'hotswap.sock')], { cwd: t.dir, timeoutMs: 20_000 })
  assertOneLine(r, 'HOTSWAP_ERR_CONFIG', 1, '--socket through a file')
  assert.match(r.stderr, /cannot create the socket directory/)
})

/** Runs the CLI from a directory removed just before it starts. */
async function fromDeletedDir (args: string[]): Promise<CliResult> {
  const dir = join(t.dir, `gone-${Math.random().toString(36).slice(2)}`)
  mkdirSync(dir)
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const child = spawn('/bin/sh', ['-c', `cd '${dir}' && rmdir '${dir}' && exec ${quoted} < /dev/null`], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  let err = ''
  child.stdout.on('data', (d: Buffer) => out.push(d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout: Buffer.concat(out), stderr: err }
}

test('every command run from a deleted working directory says so in one line (USAGE, exit 2)', async () => {
  const sock = join(t.dir, 's', 'h.sock')
  await Promise.all([['status', '--socket', sock], ['reload'], ['cp', 'a.sqlite3', 'b.sqlite3'], ['cp', '-', 'live', '--socket', sock],
    ['serve', fixture('app.mjs'), '--db', db]].map(async (args) => {
    const r = await fromDeletedDir(args)
    assertOneLine(r, 'HOTSWAP_ERR_USAGE', 2, args.join(' '))
    assert.match(r.stderr, /working directory no longer exists/)
    assert.equal(r.stdout.length, 0)
  }))
})

test('cp with no server listening gives HOTSWAP_ERR_NO_SERVER and exit 1', async () => {
  const socket = join(t.dir, 'nobody', 'hotswap.sock')
  const src = join(t.dir, 'nobody-src.sqlite3')
  seed(src, { label: 'nobody' })
  const byFile = await cli(['cp', src, 'live.sqlite3', '--socket', socket], { cwd: t.dir })
  assert.equal(byFile.code, 1, byFile.stderr)
  assert.match(byFile.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, byFile.stderr)
  const byStdin = await cli(['cp', '-', 'live'], { cwd: t.dir, input: readFileSync(src), env: { HOTSWAP_SOCKET: socket } })
  assert.equal(byStdin.code, 1, byStdin.stderr)
  assert.match(byStdin.stderr.split('\n')[0] ?? '', /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /, byStdin.stderr)
  assert.equal(byStdin.stdout.length, 0)
})
