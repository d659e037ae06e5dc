// Every message between the primary and its workers. Each request is mapped to the value its
// reply carries, in one interface per direction (PrimaryCalls, WorkerCalls): the wire unions
// below are derived from them, rpc.request() infers a reply's type from its command, and a
// handler table typed from them does not compile with a handler missing.
// Each message is tagged `hotswap:` so app messages on the same IPC channel are left alone
// (the way node's cluster tags its own with NODE_CLUSTER).
//
//   request { cmd: 'hotswap:pause', seq: 7, names, drainTimeoutMs } ──▶
//                         ◀── { cmd: 'hotswap:reply', seq: 7, ok: true, value: PauseValue }
//                         ◀── { cmd: 'hotswap:reply', seq: 7, ok: false, error: WireError }

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

/** One request: the fields it carries besides `cmd` and `seq`, and the value of its reply. */
export interface Call {
  fields: object
  value: unknown
}

type NoFields = Record<never, never>

/** Requests the primary sends to a worker; each expects a `hotswap:reply` with the same seq. */
export interface PrimaryCalls {
  'hotswap:pause': { fields: { names: string[], drainTimeoutMs: number, /** A drain waiting longer logs what it waits for. */ drainWarningMs?: number }, value: PauseValue }
  'hotswap:resume': { fields: { names: string[] }, value: ResumeValue }
  'hotswap:shutdown': { fields: { timeoutMs: number }, value: null }
  'hotswap:stats': { fields: NoFields, value: StatsValue }
  /** The app's own prom-client metrics, for the primary's /metrics (worker/metrics.ts). */
  'hotswap:metrics': { fields: NoFields, value: AppMetricsValue }
  /** The watchdog's event-loop ping: answered from the worker's event loop, with its RSS. */
  'hotswap:ping': { fields: NoFields, value: PingValue }
  /** The watchdog's HTTP check: GET `path` from the app's own server in this worker. */
  'hotswap:health': { fields: { path: string, timeoutMs: number }, value: HealthValue }
}

/** Requests a worker sends to the primary. */
export interface WorkerCalls {
  'hotswap:hello': { fields: NoFields, value: HelloValue }
  /** The app called ready() (--wait-ready). */
  'hotswap:ready': { fields: NoFields, value: null }
}

/** A map of calls, as PrimaryCalls and WorkerCalls are. */
export type Calls<M> = { [K in keyof M]: Call }

/** Request `K` of map `M` as it travels. */
export type RequestOf<M extends Calls<M>, K extends keyof M> = { cmd: K, seq: number } & M[K]['fields']

/** The value the reply to request `K` of map `M` carries. */
export type ValueOf<M extends Calls<M>, K extends keyof M> = M[K]['value']

/** Every request of map `M`, as one union discriminated by `cmd`. */
export type RequestIn<M extends Calls<M>> = { [K in keyof M]: RequestOf<M, K> }[keyof M]

export type PrimaryRequest = RequestIn<PrimaryCalls>
export type WorkerRequest = RequestIn<WorkerCalls>

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
  /** CPU time used so far, user + system (process.cpuUsage()), in microseconds. */
  cpuMicros: number
  rss: number
  inFlight: number
  served: number
  queued: number
}

/**
 * One entry per prom-client copy the app loaded: its default registry's getMetricsAsJSON(),
 * the input prom-client's AggregatorRegistry.aggregate() takes. Empty when the app has none.
 */
export interface AppMetricsValue {
  registries: unknown[][]
}

export interface PingValue {
  rss: number
}

export interface HealthValue {
  /** The HTTP status the app answered with; null when it could not be asked (the reason in `error`). */
  status: number | null
  error?: string
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
