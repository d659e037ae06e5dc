// The entry point of every app worker forked by `hotswap serve`.
//
//   primary ──fork──▶ bootstrap: gate http ─▶ hello (wait for the current state) ─▶ import APP
//                         ▲                                                      │
//                         └──── pause / resume / shutdown / stats (IPC, by seq) ◀┘
//
// The worker opens nothing before the primary answers its hello: a worker started during a
// swap must start paused, and IPC sent before its listener exists would be lost.

import { pathToFileURL } from 'node:url'
import type { Server as HttpServer } from 'node:http'
import { getLogger, flushLogger } from '../shared/logger.js'
import { toWireError, Rpc } from '../shared/rpc.js'
import { isHotswapMessage, type HelloValue, type HotswapMessage, type PrimaryRequest, type StatsValue, type WorkerRequest } from '../shared/messages.js'
import { installHttpGate } from './http-gate.js'
import { getRuntime, pauseWorker, resumeWorker } from './runtime.js'

const EXIT_CONFIG = 78 // EX_CONFIG: the supervisor does not restart a worker that exits so.

const log = getLogger(`worker ${process.env.HOTSWAP_WORKER_ID ?? process.pid}`)
const rt = getRuntime()
rt.mode = 'managed'
installHttpGate()

function send (msg: HotswapMessage): boolean {
  if (process.send === undefined || !process.connected) return false
  return process.send(msg)
}

const rpc = new Rpc<WorkerRequest>((msg) => send(msg))
let stopping = false

async function shutdown (timeoutMs: number): Promise<void> {
  stopping = true
  rt.gate.closeConnectionsAfterResponse()
  for (const server of rt.servers) {
    server.close()
    ;(server as HttpServer).closeIdleConnections?.()
  }
  rt.gate.open()
  await rt.gate.drain(timeoutMs).catch((err: Error) => log.warn(`shutdown: ${err.message}`))
  for (const slot of rt.slots.values()) {
    try {
      slot.shutdown()
    } catch (err) {
      log.warn(`closing database ${slot.name}: ${(err as Error).message}`)
    }
  }
}

type Handlers = { [K in PrimaryRequest['cmd']]: (msg: Extract<PrimaryRequest, { cmd: K }>) => Promise<unknown> }

const handlers: Handlers = {
  'hotswap:pause': async (msg) => await pauseWorker(msg.names, msg.drainTimeoutMs),
  'hotswap:resume': async (msg) => await resumeWorker(msg.names),
  'hotswap:shutdown': async (msg) => {
    await shutdown(msg.timeoutMs)
    // Exit once the reply is on its way; the primary treats this exit as planned.
    setImmediate(() => { void flushLogger().then(() => process.exit(0)) })
    return null
  },
  'hotswap:stats': async (): Promise<StatsValue> => ({ rss: process.memoryUsage.rss(), inFlight: rt.gate.inFlight, served: rt.gate.served, queued: rt.gate.queued }),
}

process.on('message', (msg: unknown) => {
  if (!isHotswapMessage(msg)) return // App messages are the app's business.
  if (msg.cmd === 'hotswap:reply') {
    rpc.handleReply(msg)
    return
  }
  if (msg.cmd === 'hotswap:hello' || msg.cmd === 'hotswap:ready') return
  const handler = handlers[msg.cmd] as (m: PrimaryRequest) => Promise<unknown>
  const seq = msg.seq
  handler(msg).then(
    (value) => send({ cmd: 'hotswap:reply', seq, ok: true, value: value ?? null }),
    (err: unknown) => send({ cmd: 'hotswap:reply', seq, ok: false, error: toWireError(err) }),
  )
})

// Under systemd or a terminal's Ctrl-C, SIGTERM/SIGINT reach the whole process group at once.
// The primary coordinates the shutdown, so a worker waits for its word; only a signal aimed at
// this worker alone (no shutdown follows) makes it stop by itself, gracefully.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    setTimeout(() => {
      if (stopping) return
      log.warn(`${signal} received; stopping this worker`)
      void shutdown(5000).then(() => flushLogger()).then(() => process.exit(0))
    }, 1000).unref()
  })
}

// The primary went away (killed, or crashed): finish what runs and leave.
process.on('disconnect', () => {
  if (stopping) return
  void shutdown(5000).then(() => flushLogger()).then(() => process.exit(0))
})

async function main (): Promise<void> {
  const appPath = process.env.HOTSWAP_APP
  if (appPath === undefined) throw new Error('HOTSWAP_APP is not set')
  const hello = await rpc.request<HelloValue>({ cmd: 'hotswap:hello' }, 120_000)
  rt.databases = hello.databases
  await import(pathToFileURL(appPath).href)
}

rt.notifyReady = async () => { await rpc.request({ cmd: 'hotswap:ready' }, 10_000) }

/** A port already taken cannot be fixed by restarting: say so once and exit EX_CONFIG. */
async function exitForStartupError (err: unknown): Promise<never> {
  const e = err as NodeJS.ErrnoException & { port?: number }
  if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
    const what = e.code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user'
    const message = `port ${e.port ?? process.env.PORT ?? '?'} ${what}`
    log.error(`the app cannot listen: ${message}`, { startupError: message })
    await flushLogger()
    process.exit(EXIT_CONFIG)
  }
  const first = (e.stack ?? e.message ?? String(err)).split('\n')[0] ?? ''
  log.error(`the app failed to start: ${e.stack ?? e.message}`, { startupError: `the app failed to start: ${first}` })
  await flushLogger()
  process.exit(1)
}

process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
    void exitForStartupError(err)
    return
  }
  // Keep node's behaviour for everything else: print and exit 1 (the primary restarts us).
  log.error(`uncaught exception: ${err.stack ?? err.message}`)
  void flushLogger().then(() => process.exit(1))
})

main().catch(exitForStartupError)
