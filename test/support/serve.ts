// A real `hotswap serve` in a child process and the real CLI: start (with the given flags, or
// exactly the given arguments), wait for its workers to listen, read its JSON log, stop it by its
// pid; `status --json` through the CLI. Everything a test starts is stopped in the test's `after`.

import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before } from 'node:test'
import { liveForFile, seed, tempDir } from './files.js'
import { isAlive, sleep, waitUntil } from './wait.js'
import type { StatusReport } from '../../src/shared/status-report.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = join(ROOT, 'bin', 'run.js')

export function fixture (name: string): string {
  return join(ROOT, 'test', 'fixtures', name)
}

/** A TCP port free on `host` (127.0.0.1 unless told) a moment ago. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

export interface Served {
  child: ChildProcess
  pid: number
  port: number
  socket: string
  dir: string
  /** Everything the primary (and its workers) printed so far. */
  output: () => string
  /** Parsed JSON log lines so far. */
  logs: () => Array<Record<string, unknown>>
  waitForLog: (pattern: RegExp, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop: () => Promise<number | null>
}

export interface ServeOptions {
  dir: string
  dbs: string[]
  app?: string
  workers?: number
  args?: string[]
  env?: Record<string, string>
  /** Wait until this many workers listen (default: all). */
  waitListening?: number
  /** Run the server as this user and group (tests run as root). */
  as?: { uid: number, gid: number }
}

export async function startServe (opts: ServeOptions): Promise<Served> {
  const port = await freePort()
  const socket = join(opts.dir, 'sock', 'hotswap.sock')
  const workers = opts.workers ?? 2
  const args = [opts.app ?? fixture('app.mjs'), '--workers', String(workers), '--port', String(port), '--socket', socket,
    ...opts.dbs.flatMap((d) => ['--db', d]), ...(opts.args ?? [])]
  return await startServeArgs({ dir: opts.dir, args, port, socket, env: opts.env, waitListening: opts.waitListening ?? workers, as: opts.as })
}

export interface LiveServe {
  t: ReturnType<typeof tempDir>
  /** The one managed database, `live.sqlite3`, seeded with `label` (v0 unless told). */
  live: string
  served: Served
}

/**
 * A test file's one `hotswap serve`: before() makes a temp folder and starts what `start` returns
 * in it; after() stops it by its pid, asserts that serve exits 0 on SIGTERM and removes its
 * socket, and removes the folder. `use` receives both once the server is up. A file's own
 * clean-up that must run before the stop goes in an after() registered before this call (hooks
 * run in order).
 */
export function serveForFile (start: (t: ReturnType<typeof tempDir>) => Promise<Served>, use: (s: { t: ReturnType<typeof tempDir>, served: Served }) => void | Promise<void>): void {
  let t: ReturnType<typeof tempDir> | undefined
  let served: Served | undefined
  before(async () => {
    t = tempDir()
    served = await start(t)
    await use({ t, served })
  })
  after(async () => {
    const code = await served?.stop()
    const socketLeft = served !== undefined && existsSync(served.socket)
    t?.cleanup()
    assert.equal(code, 0, 'serve exits 0 on SIGTERM')
    assert.equal(socketLeft, false, 'socket removed on shutdown')
  })
}

/**
 * A test file's folder that another user (a server run `as` nobody) may enter, mode 0755, and
 * the servers the file starts there: before() makes the folder, after() stops every server in
 * `servers` by its pid, then removes the folder.
 */
export function folderForOtherUsers (): { dir: string, servers: Served[] } {
  const folder = { dir: '', servers: [] as Served[] }
  let t: ReturnType<typeof tempDir> | undefined
  before(() => {
    t = tempDir()
    folder.dir = t.dir
    chmodSync(t.dir, 0o755)
  })
  after(async () => {
    for (const s of folder.servers) await s.stop()
    t?.cleanup()
  })
  return folder
}

/** Seeds one database per entry (`name.sqlite3` in `dir`, labelled as given); returns their paths by name. */
export function seedAll<K extends string> (dir: string, labels: Record<K, string>): Record<K, string> {
  const paths = {} as Record<K, string>
  for (const name of Object.keys(labels) as K[]) {
    paths[name] = join(dir, `${name}.sqlite3`)
    seed(paths[name], { label: labels[name] })
  }
  return paths
}

/**
 * serveForFile() over a seeded `live.sqlite3` (label v0 unless told). `prepare` runs between the
 * seed and the start (more files beside live); `use` receives the server once it is up.
 */
export function serveLiveForFile (opts: Omit<ServeOptions, 'dir' | 'dbs'> & { rows?: number, label?: string, prepare?: (s: Omit<LiveServe, 'served'>) => void }, use: (s: LiveServe) => void | Promise<void>): void {
  let live = ''
  serveForFile(async (t) => {
    live = join(t.dir, 'live.sqlite3')
    const { rows, label, prepare, ...serveOpts } = opts
    seed(live, { label: label ?? 'v0', ...(rows === undefined ? {} : { rows }) })
    prepare?.({ t, live })
    return await startServe({ ...serveOpts, dir: t.dir, dbs: [live] })
  }, async ({ t, served }) => { await use({ t, live, served }) })
}

let reachableCopy: string | undefined

/**
 * The project's root as another user (a server run `as` nobody) can reach it: the root itself when
 * every folder above it lets others through, else a copy of what a server and its fixture apps
 * need (bin, dist, node_modules, package.json, test/fixtures), hard-linked where it can be, in a
 * folder others may enter. A clone in a private folder (mktemp -d is 0700) is not reachable.
 */
export function rootReachableByOthers (): string {
  let dir = ROOT.replace(/\/+$/, '')
  let reachable = true
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) reachable = false
    const up = dirname(dir)
    if (up === dir) break
    dir = up
  }
  if (reachable) return ROOT
  if (reachableCopy !== undefined) return reachableCopy
  const copy = mkdtempSync(join(tmpdir(), 'hotswap-runtime-'))
  chmodSync(copy, 0o755)
  mkdirSync(join(copy, 'test'), { mode: 0o755 })
  for (const part of ['bin', 'dist', 'node_modules', 'package.json', join('test', 'fixtures')]) {
    const from = join(ROOT, part)
    const to = join(copy, part)
    if (spawnSync('cp', ['-al', from, to]).status !== 0 && spawnSync('cp', ['-a', from, to]).status !== 0) {
      throw new Error(`cannot copy ${from} to ${to} for another user`)
    }
  }
  process.once('exit', () => rmSync(copy, { recursive: true, force: true }))
  reachableCopy = `${copy}/`
  return reachableCopy
}

/**
 * Like startServe, but runs `hotswap serve` with exactly `args` (nothing added: the app,
 * --workers, --db, --port may come from a config file). `port` and `socket` are what the test
 * expects the server to use; they are only recorded on the result.
 */
export async function startServeArgs (opts: { dir: string, args: string[], port: number, socket: string, env?: Record<string, string>, waitListening?: number, as?: { uid: number, gid: number }, bin?: string }): Promise<Served> {
  // A server run as another user gets paths it can reach.
  const root = opts.as === undefined ? ROOT : rootReachableByOthers()
  const args = root === ROOT ? opts.args : opts.args.map((a) => a.startsWith(ROOT) ? root + a.slice(ROOT.length) : a)
  const bin = opts.bin ?? join(root, 'bin', 'run.js')
  const child = spawn(process.execPath, [bin, 'serve', ...args], {
    cwd: opts.dir,
    env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts.as,
  })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const logs = (): Array<Record<string, unknown>> => jsonLines(out)
  const waitForLog = async (pattern: RegExp, timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = logs().find((l) => pattern.test(String(l.message)))
      if (hit !== undefined) return hit
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no log line matched ${String(pattern)} (exit ${String(child.exitCode)}); output:\n${out.slice(-4000)}`)
      }
      await sleep(20)
    }
  }
  const served: Served = {
    child,
    pid: child.pid as number,
    port: opts.port,
    socket: opts.socket,
    dir: opts.dir,
    output: () => out,
    logs,
    waitForLog,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
  const want = opts.waitListening ?? 1
  const deadline = Date.now() + 20_000
  while (listening(logs()) < want) {
    if (child.exitCode !== null) break
    if (Date.now() > deadline) {
      await served.stop()
      throw new Error(`hotswap serve did not start; output:\n${out}`)
    }
    await sleep(20)
  }
  return served
}

/** The JSON lines of a server's output (HOTSWAP_LOG_FORMAT=json), parsed; other lines skipped. */
export function jsonLines (out: string): Array<Record<string, unknown>> {
  return out.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return []
    try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
  })
}

/** How many workers a server's log says listen. */
export function listening (logs: Array<Record<string, unknown>>): number {
  return logs.filter((l) => /listening on/.test(String(l.message)) && l.role === 'supervisor').length
}

export interface CliResult {
  code: number | null
  stdout: Buffer
  stderr: string
}

/** Runs the real CLI (`bin/run.js`); `input` is piped to its stdin. */
export async function cli (args: string[], opts: { cwd: string, input?: Buffer, env?: Record<string, string>, timeoutMs?: number }): Promise<CliResult> {
  return await runProcess(process.execPath, [BIN, ...args], opts)
}

export interface HeldCli {
  send: (s: string) => void
  end: () => void
  kill: () => void
  /** Its stdout so far. */
  stdout: () => string
  done: Promise<{ code: number | null, stdout: string, stderr: string }>
}

/**
 * The real CLI, its stdin ours (a held commit, a lease): resolves once its stdout holds `line`
 * (PAUSED, LEASED) or it ended, with what to send it and its end.
 */
export async function cliUntil (args: string[], line: string, opts: { cwd: string }): Promise<HeldCli> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const seen = new Promise<void>((resolve) => {
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); if (stdout.includes(line)) resolve() })
  })
  const done = new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
  await Promise.race([seen, done])
  return { send: (s) => child.stdin.write(s), end: () => child.stdin.end(), kill: () => child.kill('SIGKILL'), stdout: () => stdout, done }
}

/** The real CLI as a shell command line (for onTerminal). */
export const HOTSWAP = `'${process.execPath}' '${BIN}'`

/**
 * Runs a shell command line on a pseudo-terminal (util-linux `script`: stdin, stdout and stderr
 * all on it); `typed` is written to the terminal, as keys. Its exit code and what the terminal
 * showed. stdin stays open (an end of input would reach the command as one).
 */
export async function onTerminal (commandLine: string, opts: { cwd: string, typed?: string, timeoutMs?: number }): Promise<{ code: number | null, output: string }> {
  // -q: no banner; -e: its exit code is the command's; -c: the command. The typescript file is
  // /dev/null; what the terminal showed comes on script's stdout.
  const child = spawn('script', ['-qec', commandLine, '/dev/null'], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
  child.stdin.on('error', () => {})
  if (opts.typed !== undefined) child.stdin.write(opts.typed)
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`util-linux script is needed for a terminal: ${err.message}`)))
    child.once('close', (c) => resolve(c))
  })
  clearTimeout(timer)
  child.stdin.destroy()
  return { code, output }
}

/** Runs `command` to its end (SIGKILLed after `timeoutMs`), `input` piped to its stdin; its exit code, stdout and stderr. */
export async function runProcess (command: string, args: string[], opts: { cwd: string, input?: Buffer | string, env?: Record<string, string>, timeoutMs?: number }): Promise<CliResult> {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  let err = ''
  child.stdout.on('data', (d: Buffer) => out.push(d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  child.stdin.on('error', () => {})
  if (opts.input !== undefined) child.stdin.end(opts.input)
  else child.stdin.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout: Buffer.concat(out), stderr: err }
}

/** What `hotswap status --json` prints: the server's own type. */
export type { StatusReport } from '../../src/shared/status-report.js'

/** Runs the real `hotswap status --json` and parses it (throws with its stderr on failure). */
export async function statusJson (socket: string, cwd: string): Promise<StatusReport> {
  const res = await cli(['status', '--json', '--socket', socket], { cwd })
  if (res.code !== 0) throw new Error(`hotswap status --json exited ${String(res.code)}: ${res.stderr}`)
  return JSON.parse(res.stdout.toString()) as StatusReport
}

/** Waits for a served child to exit by itself (no signal sent); throws after the timeout. */
export async function waitExit (served: Served, timeoutMs = 20_000): Promise<number | null> {
  const child = served.child
  await waitUntil(`hotswap serve (pid ${served.pid}) to exit`, () => child.exitCode !== null || child.signalCode !== null, timeoutMs)
  return child.exitCode
}

/**
 * The servers a test file starts for itself around `versioned-app.mjs` (or another app): each in
 * its own folder with a seeded WAL `live.sqlite3` (label v1) and the VERSION file the app reads.
 * In after(): every server is stopped, every worker pid seen is killed if still alive, the
 * folders are removed.
 */
export function versionedServers (): {
  project: (version?: string) => { dir: string, live: string }
  serve: (opts: ServeOptions) => Promise<Served>
  /** `status --json`'s workers (through the CLI); their pids are remembered for after(). */
  workersOf: (s: Served) => Promise<StatusReport['workers']>
  servers: Served[]
} {
  const servers: Served[] = []
  const dirs: Array<ReturnType<typeof tempDir>> = []
  const workerPids = new Set<number>()
  after(async () => {
    for (const s of servers) await s.stop()
    for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    for (const d of dirs) d.cleanup()
  })
  return {
    servers,
    project: (version = 'v1') => {
      const t = tempDir()
      dirs.push(t)
      const live = join(t.dir, 'live.sqlite3')
      seed(live, { label: 'v1' })
      writeFileSync(join(t.dir, 'VERSION'), version)
      return { dir: t.dir, live }
    },
    serve: async (opts) => {
      const s = await startServe({ app: fixture('versioned-app.mjs'), ...opts })
      servers.push(s)
      return s
    },
    workersOf: async (s) => {
      const st = await statusJson(s.socket, s.dir)
      for (const w of st.workers) workerPids.add(w.pid)
      return st.workers
    },
  }
}

/** Runs `hotswap serve` to completion (for the cases that must refuse to start), JSON logs. */
export async function serveToExit (args: string[], opts: { cwd: string, env?: Record<string, string>, timeoutMs?: number }): Promise<CliResult> {
  return await cli(['serve', ...args], { cwd: opts.cwd, env: { HOTSWAP_LOG_FORMAT: 'json', ...opts.env }, timeoutMs: opts.timeoutMs ?? 30_000 })
}

/** The first `ERROR [` line of a stderr (a server prints log lines around it). */
export function errorLine (stderr: string): string {
  return stderr.split('\n').find((l) => l.startsWith('ERROR [')) ?? ''
}

export interface NodeApp {
  child: ChildProcess
  port: number
  /** Everything it printed so far. */
  output: () => string
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s). */
  stop: () => Promise<number | null>
}

/**
 * Runs a fixture app with plain node, as `node app.mjs` in development (no serve), with PORT set.
 * Resolves once it accepts a connection on PORT, or once it exited (a start-up error: see exited).
 */
export async function startNodeApp (app: string, opts: { cwd: string, env?: Record<string, string> }): Promise<NodeApp> {
  const port = await freePort()
  const child = spawn(process.execPath, [app], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  let done = false
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { done = true; resolve(code) }))
  const stop = async (): Promise<number | null> => {
    if (!done) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  await waitUntil(`${app} listening on port ${port}`, async () => {
    if (done) return true
    return await new Promise<boolean>((resolve) => {
      const req = net.connect(port, '127.0.0.1', () => { req.destroy(); resolve(true) })
      req.once('error', () => resolve(false))
    })
  }).catch(async (err: Error) => {
    await stop()
    throw new Error(`${err.message}; output:\n${out}`)
  })
  return { child, port, output: () => out, exited, stop }
}

/**
 * For tests of refused start-ups: a live file per test file, a socket path beside it, and the
 * `serve` arguments of the plain test app on them with `extra` appended.
 */
export function serveArgsForFile (workers: number, use: (s: { t: ReturnType<typeof tempDir>, live: string, socket: string, serve: (...extra: string[]) => string[] }) => void): void {
  liveForFile({}, ({ t, live }) => {
    const socket = join(t.dir, 's', 'h.sock')
    use({ t, live, socket, serve: (...extra) => ['serve', fixture('app.mjs'), '--workers', String(workers), '--db', live, '--socket', socket, ...extra] })
  })
}
