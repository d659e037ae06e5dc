// What the socket's `monit` command answers, once per refresh of `hotswap monit`: one JSON line
// of counters, cheap to make (one IPC round trip per worker, one stat per database). Rates (CPU
// %, req/s) are not in it: the client takes them from two reports in a row (their `at` and the
// counters), so two monits never disturb each other's figures and the server keeps no state.
//
//   { at, primary: { pid, cpuMicros, rss, uptimeMs }, workers: [...], databases: [...] }

export interface MonitWorker {
  /** Its slot (1..N). */
  id: number
  pid: number
  /** The supervisor's WorkerState, as text. */
  state: string
  restarts: number
  uptimeMs: number
  /** null: not live, or it did not answer. CPU time used so far (user + system), in µs. */
  cpuMicros: number | null
  rss: number | null
  /** Requests served so far, and in flight now. */
  served: number | null
  inFlight: number | null
}

export interface MonitDatabase {
  name: string
  path: string
  /** null: cannot be stat'ed. */
  size: number | null
  journalMode: string
  /** The live generation's id (hotswap history). */
  generation: number
  swaps: number
  /** The last swaps' pause windows in ms, oldest first. */
  pauses: number[]
}

export interface MonitReport {
  /** The server's clock when the report was made (ms since the epoch). */
  at: number
  primary: { pid: number, cpuMicros: number, rss: number, uptimeMs: number }
  workers: MonitWorker[]
  databases: MonitDatabase[]
}
