// The app's own prom-client metrics, for the primary's /metrics: the default registry of every
// copy of prom-client the app has loaded, as getMetricsAsJSON() gives it, which is what
// prom-client's AggregatorRegistry.aggregate() sums in the primary.
//
//   primary ── hotswap:metrics ──▶ appMetrics(): require.cache ─▶ …/prom-client/lib/registry.js
//           ◀── { registries: [registry.getMetricsAsJSON(), …] } ─┘   (globalRegistry of each copy)
//
// The app does nothing but use prom-client. prom-client's own cluster support answers the
// primary only in a worker that made an AggregatorRegistry, and its primary side waits 5 s and
// fails the whole scrape for any worker that does not answer (an app without prom-client, a
// worker still starting). This runtime never loads prom-client itself: it looks for the copies
// the app loaded (require(), or an ESM import, which also goes through the CommonJS cache), so
// an app without it costs nothing and answers an empty list.

import { createRequire } from 'node:module'
import { sep } from 'node:path'

interface Registry {
  getMetricsAsJSON: () => Promise<unknown[]>
}

const cache = createRequire(import.meta.url).cache
const REGISTRY_FILE = `${sep}prom-client${sep}lib${sep}registry.js`

function isRegistry (r: unknown): r is Registry {
  return typeof r === 'object' && r !== null && typeof (r as { getMetricsAsJSON?: unknown }).getMetricsAsJSON === 'function'
}

/** Each loaded prom-client's default registry, as JSON; [] when the app loaded none. */
export async function appMetrics (): Promise<unknown[][]> {
  const registries = new Set<Registry>()
  for (const [file, mod] of Object.entries(cache)) {
    if (!file.endsWith(REGISTRY_FILE)) continue
    const global = (mod?.exports as { globalRegistry?: unknown } | undefined)?.globalRegistry
    if (isRegistry(global)) registries.add(global)
  }
  return await Promise.all([...registries].map(async (r) => await r.getMetricsAsJSON()))
}
