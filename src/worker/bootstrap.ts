// The entry point of every app worker forked by `hotswap serve`.
//
//   primary ──fork──▶ bootstrap: gate http ─▶ hello (wait for the current state) ─▶ import APP
//                         ▲                                                      │
//                         └── pause / resume / shutdown / stats / ping / health (IPC, by seq) ◀┘
//
// The worker opens nothing before the primary answers its hello: a worker started during a
// swap must start paused, and IPC sent before its listener exists would be lost.

import { pathToFileURL } from 'node:url'
import cluster from 'node:cluster'
import type { Server as HttpServer } from 'node:http'
import net from 'node:net'
import { ExitCodes } from '../shared/errors.js'
import { getLogger, flushLogger } from '../shared/logger.js'
import { Rpc, type Handlers } from '../shared/rpc.js'
import type { HotswapMessage, PrimaryCalls, StatsValue, WorkerCalls } from '../shared/messages.js'
import { healthCheck } from './health-check.js'
import { installHttpGate } from './http-gate.js'
import { appMetrics } from './metrics.js'
import { mixedSwap } from './orphaned-swap.js'
import { getRuntime, pauseWorker, resumeWorker } from './runtime.js'

/** CPU time used so far, user + system, in microseconds (monit's CPU% is its rate). */
function cpuMicros (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

const log = getLogger(`worker ${process.env.HOTSWAP_WORKER_ID ?? process.pid}`)
const rt = getRuntime()
rt.mode = 'managed'
installHttpGate()

function send (msg: HotswapMessage): boolean {
  if (process.send === undefined || !process.connected) return false
  return process.send(msg)
}

// This worker's stdout/stderr are pipes the primary reads (its log lines). Once the primary is
// gone, a write fails with EPIPE, and an unhandled stream error would crash the worker in the
// middle of the requests it is finishing (a drain that waits logs a warning). Nobody is left to
// read the line: drop it.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})

let stopping = false

/** A keep-alive connection that carried no new request for this long belongs to an idle client. */
const QUIET_MS = 250

/**
 * Waits until the app's servers have no connection left (a closed server leaves the set once
 * its last connection ends): under traffic every keep-alive connection ends after its next
 * response, which says Connection: close. Connections still open once no request has started
 * for QUIET_MS belong to idle clients and are closed then.
 */
async function endConnections (deadline: number): Promise<void> {
  let served = rt.gate.served
  let quietSince = Date.now()
  while (rt.servers.size > 0 && Date.now() < deadline) {
    if (rt.gate.served !== served) {
      served = rt.gate.served
      quietSince = Date.now()
    } else if (Date.now() - quietSince >= QUIET_MS) {
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  for (const server of rt.servers) (server as HttpServer).closeIdleConnections?.()
}

async function shutdown (timeoutMs: number): Promise<void> {
  stopping = true
  const deadline = Date.now() + timeoutMs
  rt.gate.closeConnectionsAfterResponse()
  for (const server of rt.servers) {
    // Stop accepting only. http.Server#close() also closes idle keep-alive connections
    // (Node >= 19), and under traffic an "idle" connection is one whose client has just sent
    // its next request: closing it fails that request with ECONNRESET (pm2 #2573).
    // endConnections() lets each one end after its next response instead.
    net.Server.prototype.close.call(server)
  }
  // A primary that died mid-swap leaves this worker paused. The live path holds the old file or
  // the new one, whole (the rename is atomic), so reopen before releasing the queued requests;
  // they would fail with HOTSWAP_ERR_PAUSED otherwise. Unless a commit of several databases was
  // cut between its renames: then a reopen would serve a mix, and the queue is refused instead.
  const mixed = mixedSwap()
  if (mixed === null) {
    for (const slot of rt.slots.values()) {
      if (!slot.isPaused) continue
      try { slot.resume() } catch (err) { log.warn(`reopening database ${slot.name}: ${(err as Error).message}`) }
    }
  } else {
    const n = rt.gate.refuseQueued(503, 'the server was stopped in the middle of a swap; retry')
    log.warn(`the primary died between the renames of a commit (${mixed.renamed.join(', ')} renamed, ${mixed.notRenamed.join(', ')} not): ` +
      `the databases stay closed in this worker, ${n} queued request(s) refused; the next serve start finishes the commit`)
  }
  rt.gate.open()
  await endConnections(deadline)
  await rt.gate.drain(Math.max(1, deadline - Date.now()), 'shutdown').catch((err: Error) => log.warn(`shutdown: ${err.message}`))
  for (const slot of rt.slots.values()) {
    try {
      slot.shutdown()
    } catch (err) {
      log.warn(`closing database ${slot.name}: ${(err as Error).message}`)
    }
  }
}

const handlers: Handlers<PrimaryCalls> = {
  'hotswap:pause': async (msg) => await pauseWorker(msg.names, msg.drainTimeoutMs, msg.drainWarningMs),
  'hotswap:resume': async (msg) => await resumeWorker(msg.names),
  'hotswap:shutdown': async (msg) => {
    await shutdown(msg.timeoutMs)
    // Exit once the reply is on its way; the primary treats this exit as planned.
    setImmediate(() => { void flushLogger().then(() => process.exit(ExitCodes.ok)) })
    return null
  },
  'hotswap:stats': async (): Promise<StatsValue> => ({ cpuMicros: cpuMicros(), rss: process.memoryUsage.rss(), inFlight: rt.gate.inFlight, served: rt.gate.served, queued: rt.gate.queued }),
  'hotswap:metrics': async () => ({ registries: await appMetrics() }),
  // Answered from this event loop: a worker stuck in a busy loop does not answer (watchdog.ts).
  'hotswap:ping': async () => ({ rss: process.memoryUsage.rss() }),
  'hotswap:health': async (msg) => await healthCheck(msg.path, msg.timeoutMs),
}

const rpc = new Rpc<WorkerCalls, PrimaryCalls>((msg) => send(msg), handlers)
// App messages are the app's business: rpc.receive() leaves them alone.
process.on('message', (msg: unknown) => { rpc.receive(msg) })

// Under systemd or a terminal's Ctrl-C, SIGTERM/SIGINT reach the whole process group at once.
// The primary coordinates the shutdown, so a worker waits for its word; only a signal aimed at
// this worker alone (no shutdown follows) makes it stop by itself, gracefully.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    setTimeout(() => {
      if (stopping) return
      log.warn(`${signal} received; stopping this worker`)
      void shutdown(5000).then(() => flushLogger()).then(() => process.exit(ExitCodes.ok))
    }, 1000).unref()
  })
}

// SIGUSR2 asks the primary to reopen its log file (logrotate); sent to the whole group or
// cgroup (`systemctl kill -s USR2`), its default action would kill every worker. The app may
// still listen for it itself.
process.on('SIGUSR2', () => {})

// The primary went away (killed, or crashed): finish what runs and leave. node:cluster would
// exit this worker the moment its channel closes unexpectedly (lib/internal/cluster/child.js),
// cutting every request in flight; it checks exitedAfterDisconnect just after emitting the
// worker's own 'disconnect', so marking the disconnect as expected there lets shutdown() run.
cluster.worker?.once('disconnect', () => { if (cluster.worker !== undefined) cluster.worker.exitedAfterDisconnect = true })
process.on('disconnect', () => {
  if (stopping) return
  void shutdown(5000).then(() => flushLogger()).then(() => process.exit(ExitCodes.ok))
})

async function main (): Promise<void> {
  const appPath = process.env.HOTSWAP_APP
  if (appPath === undefined) throw new Error('HOTSWAP_APP is not set')
  // The app sees the argv of `node app.js ARGS…` (serve's arguments after --), not this file's.
  process.argv[1] = appPath
  const hello = await rpc.request({ cmd: 'hotswap:hello' }, 120_000)
  rt.databases = hello.databases
  // A swap pauses this worker as soon as its handshake is answered, but the app may still be
  // loading (ESM loads the module graph asynchronously) or awaiting at top level. Its start-up
  // counts as work in flight, so the pause waits for it instead of closing the database under
  // the app's set-up (user functions, pragmas, start-up reads), which failed with
  // HOTSWAP_ERR_PAUSED and crashed the worker.
  await rt.gate.run('app start-up', async () => await import(pathToFileURL(appPath).href))
}

rt.notifyReady = async () => { await rpc.request({ cmd: 'hotswap:ready' }, 10_000) }

/** listen() failed for a reason a restart cannot fix (the port is taken, or not ours to use). */
function isListenError (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'EADDRINUSE' || code === 'EACCES'
}

/** A port already taken cannot be fixed by restarting: say so once and exit EX_CONFIG. */
async function exitForStartupError (err: unknown): Promise<never> {
  const e = err as NodeJS.ErrnoException & { port?: number }
  if (isListenError(e)) {
    const what = e.code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user'
    const message = `port ${e.port ?? process.env.PORT ?? '?'} ${what}`
    log.error(`the app cannot listen: ${message}`, { startupError: message })
    await flushLogger()
    process.exit(ExitCodes.config)
  }
  const first = (e.stack ?? e.message ?? String(err)).split('\n')[0] ?? ''
  log.error(`the app failed to start: ${e.stack ?? e.message}`, { startupError: `the app failed to start: ${first}` })
  await flushLogger()
  process.exit(ExitCodes.failure)
}

process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
  if (isListenError(err)) {
    void exitForStartupError(err)
    return
  }
  // Keep node's behaviour for everything else: print and exit 1 (the primary restarts us).
  log.error(`uncaught exception: ${err.stack ?? err.message}`)
  void flushLogger().then(() => process.exit(ExitCodes.failure))
})

main().catch(exitForStartupError)
