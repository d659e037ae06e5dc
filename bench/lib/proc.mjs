// Processes the bench starts, and how it talks to them. Every child is registered by pid and
// stopped by pid in stopAll(), which run.mjs calls on success, on error and on a signal.
//
//   startServe ─▶ `node bin/run.js serve bench/app.mjs ...` (JSON logs parsed line by line)
//   startPlain ─▶ `node bench/plain-cluster.mjs ...`
//   startLoad  ─▶ `node bench/load.mjs {...}` (autocannon), stop() ─▶ its JSON result
//   runCli     ─▶ `node bin/run.js ...` timed from spawn to exit
//   pushFrames ─▶ the control socket spoken directly (the gem's framing), for many quick swaps
//   control    ─▶ any other socket command the same way (commit, undo, …)
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BENCH = join(ROOT, 'bench')
export const BIN = join(ROOT, 'bin', 'run.js')

/** pid → { child, label, extraPids: () => number[] } */
const started = new Map()

function register (child, label, extraPids = () => []) {
  started.set(child.pid, { child, label, extraPids })
  child.once('exit', () => started.delete(child.pid))
}

function alive (pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function killPid (pid, signal = 'SIGTERM') {
  try { process.kill(pid, signal) } catch { /* already gone */ }
}

/** SIGTERM every child we started (by pid), then SIGKILL what is left, workers included. */
export async function stopAll (timeoutMs = 8000) {
  const entries = [...started.values()]
  const extra = entries.flatMap((e) => e.extraPids())
  for (const e of entries) killPid(e.child.pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && entries.some((e) => e.child.exitCode === null && e.child.signalCode === null)) await sleep(50)
  for (const e of entries) if (e.child.exitCode === null && e.child.signalCode === null) killPid(e.child.pid, 'SIGKILL')
  // Workers whose primary died still exit on their own when their IPC channel closes; make sure.
  await sleep(200)
  for (const pid of extra) if (alive(pid)) killPid(pid, 'SIGKILL')
}

export function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export async function freePort () {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Starts `hotswap serve` with JSON logs; resolves once every worker listens. */
export async function startServe ({ db, workers, dir, app = join(BENCH, 'app.mjs'), env = {}, args = [], nodeArgs = [], bin = BIN }) {
  const port = await freePort()
  const socket = join(dir, `sock-${port}`, 'hotswap.sock')
  const child = spawn(process.execPath, [...nodeArgs, bin, 'serve', app, '--workers', String(workers), '--db', db,
    '--port', String(port), '--socket', socket, ...args], {
    cwd: dir,
    env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs = []
  const workerPids = new Set()
  let tail = ''
  let partial = ''
  const onData = (d) => {
    tail = (tail + d).slice(-8000)
    const lines = (partial + d).split('\n')
    partial = lines.pop()
    for (const line of lines) {
      if (!line.startsWith('{')) continue
      let entry
      try { entry = JSON.parse(line) } catch { continue }
      const m = /^worker \d+ started \(pid (\d+)\)/.exec(entry.message ?? '')
      if (m !== null) workerPids.add(Number(m[1]))
      // When the bench read it (not serialized): how long after a reply a later step happened.
      Object.defineProperty(entry, 'receivedAt', { value: performance.now() })
      logs.push(entry)
    }
  }
  child.stdout.setEncoding('utf8').on('data', onData)
  child.stderr.setEncoding('utf8').on('data', (d) => { tail = (tail + d).slice(-8000) })
  register(child, 'hotswap serve', () => [...workerPids])
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))

  const served = {
    pid: child.pid,
    port,
    socket,
    logs,
    workerPids: () => [...workerPids],
    tail: () => tail,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(timer)
      await sleep(100)
      for (const pid of workerPids) if (alive(pid)) killPid(pid, 'SIGKILL')
      return code
    },
  }
  const deadline = Date.now() + 30_000
  while (logs.filter((l) => l.role === 'supervisor' && /listening on/.test(l.message)).length < workers) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await served.stop()
      throw new Error(`hotswap serve did not start:\n${tail}`)
    }
    await sleep(20)
  }
  return served
}

/**
 * The baseline: the same app under a plain node:cluster primary. With `floorDb`, its workers
 * also hold a connection to that scratch database and `floor(rounds)` measures the physical
 * floor of a pause window on them (see plain-cluster.mjs).
 */
export async function startPlain ({ db, workers, dir, floorDb = '', nodeArgs = [] }) {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeArgs, join(BENCH, 'plain-cluster.mjs'), '--workers', String(workers), '--port', String(port),
    '--db', db, '--floor-db', floorDb], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  register(child, 'plain cluster')
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  const deadline = Date.now() + 30_000
  while (!out.includes('"listening"')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`plain cluster did not start:\n${out}`)
    await sleep(20)
  }
  return {
    pid: child.pid,
    port,
    floor: async (rounds, gapMs = 20) => await new Promise((resolve, reject) => {
      const onMessage = (msg) => {
        if (msg?.cmd !== 'floor-result') return
        child.off('message', onMessage)
        if (msg.error !== undefined) reject(new Error(`floor: ${msg.error}`))
        else resolve(msg)
      }
      child.on('message', onMessage)
      child.send({ cmd: 'floor', rounds, gapMs })
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** Starts autocannon in its own process; `stop()` (or the duration) ends it with its result. */
export function startLoad (cfg) {
  const child = spawn(process.execPath, [join(BENCH, 'load.mjs'), JSON.stringify(cfg)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  register(child, 'load')
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
  const result = new Promise((resolve, reject) => {
    child.once('exit', () => {
      const line = out.trim().split('\n').pop()
      try {
        const parsed = JSON.parse(line)
        if (parsed.error !== undefined) reject(new Error(`load: ${parsed.error}`))
        else resolve(parsed)
      } catch {
        reject(new Error(`load.mjs printed no result:\n${out}\n${err}`))
      }
    })
  })
  return {
    pid: child.pid,
    result,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      return await result
    },
  }
}

/** Runs the real CLI, timed from spawn to exit. stdout goes to a file when `stdoutFile` is set. */
export async function runCli (args, { cwd = ROOT, env = {}, stdoutFile, stdinFile, timeoutMs = 600_000, nodeArgs = [], bin = BIN } = {}) {
  const outFd = stdoutFile === undefined ? 'pipe' : fs.openSync(stdoutFile, 'w')
  const inFd = stdinFile === undefined ? 'ignore' : fs.openSync(stdinFile, 'r')
  const t0 = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, bin, ...args], { cwd, env: { ...process.env, ...env }, stdio: [inFd, outFd, 'pipe'] })
  register(child, `cli ${args[0]}`)
  if (typeof outFd === 'number') fs.closeSync(outFd)
  if (typeof inFd === 'number') fs.closeSync(inFd)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, ms: performance.now() - t0, stdout, stderr, pid: child.pid }
}

/** Runs a command to completion (pm2's CLI, the ping/pong floor). */
export async function run (cmd, args, { cwd = ROOT, env = {}, timeoutMs = 120_000 } = {}) {
  const t0 = performance.now()
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  register(child, cmd)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, ms: performance.now() - t0, stdout, stderr }
}

const CONTROL = 3
const STDIN = 0

function frame (channel, payload) {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const head = Buffer.alloc(5)
  head.writeUInt8(channel, 0)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}

/**
 * `cp - DST` over the control socket, in the gem's framing, with the file at `srcPath` as
 * stdin (streamed with backpressure). No CLI process is started: that costs hundreds of ms
 * on a loaded 2-core machine, and the swap loop measures the server, not the client.
 */
export async function pushFrames (socketPath, dst, srcPath, flags = []) {
  return await control(socketPath, ['cp', '-', dst, ...flags], srcPath)
}

/** One socket command (`['commit']`, `['undo', 'app']`, …), stdin from `srcPath` or empty. */
export async function control (socketPath, args, srcPath = null) {
  const t0 = performance.now()
  const sock = net.connect(socketPath)
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  let buf = Buffer.alloc(0)
  let stdout = ''
  let stderr = ''
  let closed = false
  const reply = new Promise((resolve, reject) => {
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(1)
        if (buf.length < 5 + len) break
        const ch = buf[0]
        const payload = buf.subarray(5, 5 + len)
        buf = buf.subarray(5 + len)
        if (ch === 1) stdout += payload.toString()
        else if (ch === 2) stderr += payload.toString()
        else if (ch === CONTROL) resolve(JSON.parse(payload.toString()))
      }
    })
    sock.once('close', () => {
      closed = true
      reject(new Error(`control socket closed without a reply; stderr: ${stderr}`))
    })
    sock.once('error', reject)
  })
  reply.catch(() => {})
  const write = async (data) => {
    if (closed || sock.write(data)) return
    await new Promise((resolve) => {
      const go = () => { sock.off('drain', go); sock.off('close', go); resolve() }
      sock.on('drain', go)
      sock.on('close', go)
    })
  }
  await write(frame(CONTROL, JSON.stringify({ args, tty: false })))
  if (srcPath !== null) {
    for await (const chunk of fs.createReadStream(srcPath, { highWaterMark: 1024 * 1024 })) await write(frame(STDIN, chunk))
  }
  await write(frame(STDIN, Buffer.alloc(0)))
  const r = await reply
  sock.end()
  return { exit: r.exit, error: r.error, stdout, stderr, ms: performance.now() - t0 }
}

/** One GET on a fresh connection (no keep-alive, so the cluster spreads them over workers). */
export async function get (port, path, timeoutMs = 5000) {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * Polls until every worker serves `label`: `need` consecutive responses with it, from at least
 * `workers` distinct pids. Returns the time it took and how many stale answers it saw.
 */
export async function pollUntilServed (port, label, { workers, need = workers * 2, timeoutMs = 60_000 } = {}) {
  const t0 = performance.now()
  let run = 0
  let pids = new Set()
  let stale = 0
  let failed = 0
  for (;;) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`label ${label} not served by every worker within ${timeoutMs} ms`)
    let r
    try {
      r = await get(port, `/item?sku=${1 + Math.floor(Math.random() * 100)}`)
    } catch {
      failed++
      run = 0
      pids = new Set()
      continue
    }
    let row = null
    try { row = JSON.parse(r.body) } catch { /* counted below */ }
    if (r.status === 200 && row !== null && row.label === label) {
      run++
      pids.add(row.pid)
      if (run >= need && pids.size >= workers) return { ms: performance.now() - t0, stale, failed }
    } else {
      if (r.status !== 200) failed++
      else stale++
      run = 0
      pids = new Set()
    }
  }
}

/** Samples VmRSS of a pid every `everyMs` until stop(); returns { maxKb, samples }. */
export function sampleRss (pid, everyMs = 10) {
  let maxKb = 0
  let samples = 0
  const read = () => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m !== null) {
        maxKb = Math.max(maxKb, Number(m[1]))
        samples++
      }
    } catch { /* gone */ }
  }
  read()
  const timer = setInterval(read, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      read()
      return { maxKb, samples }
    },
  }
}

export function rssKb (pid) {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
  } catch {
    return null
  }
}

/** Starts the real CLI and leaves it running, its stdout into `stdoutFile`; `stop()` ends it. */
export function startCli (args, { stdoutFile, cwd = ROOT }) {
  const out = fs.openSync(stdoutFile, 'w')
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', out, 'pipe'] })
  fs.closeSync(out)
  register(child, `cli ${args[0]}`)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
  const closed = new Promise((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)))
  return {
    pid: child.pid,
    stderr: () => stderr,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      const code = await closed
      clearTimeout(timer)
      return code
    },
  }
}
