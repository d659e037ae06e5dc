// `hotswap scale N`: the number of worker slots changed while serving. Up: the new slots start
// and must become ready. Down: the slots above N stop routing, drain their requests in flight
// (answered with Connection: close) and exit, the way a reload stops an old worker, so no
// request fails; a restart or a replacement waiting for a removed slot never starts.
//
//   N > wanted: slots wanted+1..N ─▶ fork ─▶ ready
//   N < wanted: resize (slots above N forgotten) ─▶ every worker above N ─▶ drained, stopped
//   N < wanted, slots 1..N all given up by the crash-loop guard: refused, nothing changed

import { HotswapError } from '../shared/errors.js'
import type { WorkerHost } from './rollover.js'

export interface ScaleResult {
  from: number
  to: number
  started: number
  stopped: number
}

export async function scale (host: WorkerHost, n: number): Promise<ScaleResult> {
  const from = host.slots.wanted
  if (n === from) return { from, to: n, started: 0, stopped: 0 }
  if (n > from) {
    host.slots.resize(n)
    host.log.info(`scale: ${from} → ${n} worker(s), starting ${n - from}`)
    const fresh = Array.from({ length: n - from }, (_, i) => host.fork(from + 1 + i))
    const results = await Promise.allSettled(fresh.map(async (w) => await w.ready))
    const failed = results.flatMap((r, i) => r.status === 'rejected' ? [`worker ${String(fresh[i]?.id)}: ${(r.reason as Error).message}`] : [])
    if (failed.length > 0) {
      // The slots stay wanted: they restart as after any crash, until the crash-loop guard.
      throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
        `scaled to ${n} worker slot(s), but ${failed.length} new worker(s) did not become ready (${failed.join('; ')}); the slots are restarted as after a crash`)
    }
    return { from, to: n, started: fresh.length, stopped: 0 }
  }
  // Down to slots the crash-loop guard gave up, every one: the workers left running would all be
  // drained and nothing would serve (and serve would not stop either: its workers exited planned).
  const kept = host.slots.givenUp().filter((g) => g.slot <= n)
  if (kept.length === n) {
    throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
      `scale ${n} refused: ${n === 1 ? 'slot 1 is' : `slots ${kept.map((g) => g.slot).join(', ')} are`} given up by the crash-loop guard (${kept[0]?.error ?? 'its last error is not known'}), so no worker would serve; nothing changed (\`hotswap reload\` starts given-up slots again, or scale to more)`)
  }
  host.slots.resize(n)
  const removed = host.all().filter((w) => w.id > n && w.state !== 'dead')
  host.log.info(`scale: ${from} → ${n} worker(s), draining ${removed.length}`)
  await Promise.all(removed.map(async (w) => await host.stopWorker(w, host.killTimeoutMs)))
  return { from, to: n, started: 0, stopped: removed.length }
}
