// The app's own prom-client metrics, from every live worker, aggregated the way prom-client's
// cluster support does it (AggregatorRegistry.aggregate: counters and histograms summed, and
// each metric's own `aggregator` otherwise). Asked over hotswap's IPC (worker/metrics.ts), each
// worker with its own timeout: one that does not answer in time (its event loop stuck), or whose
// app's metrics fail to collect, is left out of this scrape and counted, instead of failing the
// scrape as clusterMetrics() would.
//
//   scrape ─▶ each live worker: hotswap:metrics (1 s) ─▶ [registry JSON, …] ─▶ aggregate ─▶ text

import { AggregatorRegistry, type Counter, Registry } from 'prom-client'
import type { Logger } from '../../shared/logger.js'
import type { Supervisor } from '../supervisor.js'

const WORKER_TIMEOUT_MS = 1000

interface MetricJson { name?: unknown }

/** The workers' app metrics as one registry; hotswap_* names are hotswap's own and dropped. */
export async function appRegistry (supervisor: Supervisor, errors: Counter, log: Logger): Promise<Registry> {
  const replies = await Promise.all(supervisor.live().map(async (w) => {
    try {
      return (await w.rpc.request({ cmd: 'hotswap:metrics' }, WORKER_TIMEOUT_MS)).registries
    } catch (err) {
      errors.inc()
      log.debug(`worker ${w.id} (pid ${w.pid}) sent no metrics: ${(err as Error).message}`)
      return []
    }
  }))
  const registries = replies.flat().map((metrics) => (metrics as MetricJson[]).filter((m) => typeof m.name === 'string' && !m.name.startsWith('hotswap_')))
  try {
    return AggregatorRegistry.aggregate(registries)
  } catch (err) {
    // A metric whose `aggregator` prom-client does not know: hotswap's own metrics still go out.
    log.warn(`the app's metrics could not be aggregated, and are left out of this scrape: ${(err as Error).message}`)
    return new Registry()
  }
}
