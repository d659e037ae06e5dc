// What `status --json` prints: one JSON line, written by the server's status command
// (primary/control/commands/status.ts) and read by the client (client/cp.ts asks it for the
// managed databases and whether the server sees this client's files). The one type of it.
//
//   { primary: PrimaryStatus, workers: WorkerStatus[], databases: DatabaseStatus[] }
//   workers: one per worker (two share a slot during its replacement), then one per given-up slot

import type { FilesIdentity } from './same-files.js'

export interface PrimaryStatus extends FilesIdentity {
  pid: number
  uptimeMs: number
  socket: string
  version: string
  rss: number
  /** The app as given (through a release symlink, say) and the file it named at the last fork. */
  app: { path: string, resolved: string | null }
  /** The worker slots wanted (--workers, then `hotswap scale`) and how many of them have a ready worker. */
  workersWanted: number
  workersReady: number
  /** Fewer ready than wanted (`status --check` exits 3). */
  degraded: boolean
}

export interface WorkerStatus {
  /** Its slot (1..N). */
  id: number
  pid: number
  /** The supervisor's WorkerState, as text, or `given-up`: a slot the crash-loop guard stopped restarting. */
  state: string
  /** The app file this worker was forked on (symlinks resolved then). */
  app: string | null
  uptimeMs: number
  restarts: number
  /** null: the worker is not live, or did not answer for its stats. */
  rss: number | null
  inFlight: number | null
  served: number | null
  /** A given-up slot: why (its last error) and when; null for a worker. */
  lastError: string | null
  givenUpAt: number | null
}

export interface DatabaseStatus {
  name: string
  path: string
  /** null: the file could not be stat'ed. */
  size: number | null
  journalMode: string
  swaps: number
  lastSwapAt: number | null
  lastPauseMs: number | null
  /** The live generation's id (hotswap history), how many earlier ones are kept, the stage waiting. */
  generation: number
  kept: number
  staged: string | null
}

export interface StatusReport {
  primary: PrimaryStatus
  workers: WorkerStatus[]
  databases: DatabaseStatus[]
}
