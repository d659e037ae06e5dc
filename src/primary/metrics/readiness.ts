// /readyz's answer: ready when at least the configured minimum of workers is ready (--min-ready,
// every worker by default) and no swap holds the requests; otherwise the reason, for the JSON
// of a 503.

import type { Supervisor } from '../supervisor.js'

export interface Readiness {
  ready: boolean
  /** Why not, in a sentence; empty when ready. */
  reason: string
  workersReady: number
  minReady: number
  swapHoldingRequests: boolean
}

export function readiness (supervisor: Supervisor, minReady: number, stopping: boolean): Readiness {
  const workersReady = supervisor.all().filter((w) => w.state === 'ready').length
  const swapHoldingRequests = supervisor.holdingRequests
  const reasons: string[] = []
  if (stopping) reasons.push('the server is shutting down')
  if (workersReady < minReady) reasons.push(`${workersReady} of the ${minReady} ready worker(s) needed (--min-ready) are ready`)
  if (swapHoldingRequests) reasons.push('a swap holds the requests (paused)')
  return { ready: reasons.length === 0, reason: reasons.join('; '), workersReady, minReady, swapHoldingRequests }
}
