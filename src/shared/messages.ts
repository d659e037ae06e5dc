// Every message between the primary and its workers, as one discriminated union.
// Each is tagged `hotswap:` so app messages on the same IPC channel are left alone
// (the way node's cluster tags its own with NODE_CLUSTER).

export interface DatabaseInfo {
  name: string
  /** Absolute, symlinks resolved at start-up: the file that is swapped. */
  path: string
}

export interface WireError {
  code: string
  message: string
  details: string[]
}

export interface InFlightRequest {
  method: string
  url: string
  ageMs: number
}

/** Requests the primary sends to a worker; each expects a `hotswap:reply` with the same seq. */
export type PrimaryRequest =
  | { cmd: 'hotswap:pause', seq: number, names: string[], drainTimeoutMs: number }
  | { cmd: 'hotswap:resume', seq: number, names: string[] }
  | { cmd: 'hotswap:shutdown', seq: number, timeoutMs: number }
  | { cmd: 'hotswap:stats', seq: number }

/** Requests a worker sends to the primary. */
export type WorkerRequest =
  | { cmd: 'hotswap:hello', seq: number }
  | { cmd: 'hotswap:ready', seq: number }

export interface HelloValue {
  databases: DatabaseInfo[]
}

export interface PauseValue {
  /** How long this worker waited for its in-flight requests. */
  drainMs: number
  closeMs: number
  /**
   * Swapped files (or their -wal/-shm/-journal) this worker still has open once its managed
   * connections are closed: connections the app opened itself, as /proc/self/fd shows them.
   */
  holders: string[]
}

export interface ResumeValue {
  openMs: number
  released: number
}

export interface StatsValue {
  rss: number
  inFlight: number
  served: number
  queued: number
}

export type Reply =
  | { cmd: 'hotswap:reply', seq: number, ok: true, value: unknown }
  | { cmd: 'hotswap:reply', seq: number, ok: false, error: WireError }

export type HotswapMessage = PrimaryRequest | WorkerRequest | Reply

export function isHotswapMessage (msg: unknown): msg is HotswapMessage {
  return typeof msg === 'object' && msg !== null &&
    typeof (msg as { cmd?: unknown }).cmd === 'string' &&
    (msg as { cmd: string }).cmd.startsWith('hotswap:')
}
