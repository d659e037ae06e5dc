// Coded errors. Tests assert on `code`; the CLI prints `message` as a human sentence.
// One table, so a code is never spelled two ways; one table of exit statuses; one printer of
// the "ERROR [CODE] message" lines (the gem's own words are in primary/control/gem-words.ts).

export const ErrorCodes = {
  HOTSWAP_ERR_USAGE: 'bad command-line usage',
  HOTSWAP_ERR_EMPTY: 'the uploaded file is empty',
  HOTSWAP_ERR_NOT_SQLITE: 'the file is not a SQLite database',
  HOTSWAP_ERR_TRUNCATED: 'the file size does not match its SQLite header',
  HOTSWAP_ERR_INTEGRITY: 'the database failed PRAGMA integrity_check',
  HOTSWAP_ERR_SCHEMA_MISMATCH: 'the schema differs from the live database',
  HOTSWAP_ERR_NOT_MANAGED: 'neither side is a managed database',
  HOTSWAP_ERR_BOTH_MANAGED: 'both sides are managed databases',
  HOTSWAP_ERR_SOURCE: 'the source cannot be read',
  HOTSWAP_ERR_DESTINATION: 'the destination cannot be written',
  HOTSWAP_ERR_NO_SPACE: 'no space left for the file being written',
  HOTSWAP_ERR_ABORTED: 'the upload ended before end-of-input',
  HOTSWAP_ERR_TIMEOUT: 'the upload went idle for too long',
  HOTSWAP_ERR_TOO_LARGE: 'the upload is larger than the limit',
  HOTSWAP_ERR_DRAIN_TIMEOUT: 'a worker did not drain its in-flight requests in time',
  HOTSWAP_ERR_WORKER_FAILED: 'a worker failed to pause or resume',
  HOTSWAP_ERR_DB_BUSY: 'another process has the live database open',
  HOTSWAP_ERR_LOCKED: 'another swap is in progress',
  HOTSWAP_ERR_PAUSED: 'the database is closed for a swap',
  HOTSWAP_ERR_NO_SERVER: 'no hotswap server is listening on the socket',
  HOTSWAP_ERR_SOCKET_IN_USE: 'a live hotswap server already owns the socket',
  HOTSWAP_ERR_ALREADY_SERVED: 'another hotswap server manages the database',
  HOTSWAP_ERR_SOCKET_UNSAFE: 'the socket directory is not private to this user',
  HOTSWAP_ERR_PROTOCOL: 'malformed frame on the control socket',
  HOTSWAP_ERR_CONNECTION_LOST: 'the connection to the server closed before the command finished',
  HOTSWAP_ERR_CONFIG: 'invalid configuration',
  HOTSWAP_ERR_SHUTTING_DOWN: 'the server is shutting down',
  HOTSWAP_ERR_NOTHING_KEPT: 'no earlier generation of the database is kept',
  HOTSWAP_ERR_UNKNOWN_GENERATION: 'no kept generation has that id',
  HOTSWAP_ERR_UNKNOWN_STAGE: 'nothing is staged under that id',
  HOTSWAP_ERR_STAGE_EXPIRED: 'the staged file expired before its commit',
  HOTSWAP_ERR_STAGE_STALE: 'the database was swapped after the file was staged',
  HOTSWAP_ERR_ALREADY_STAGED: 'the database already has a staged file',
  HOTSWAP_ERR_UNREACHABLE: 'a fleet host cannot be reached over ssh',
  HOTSWAP_ERR_REMOTE: 'hotswap on a fleet host failed without saying why (not installed, or not running)',
  HOTSWAP_ERR_FLEET_TIMEOUT: 'a fleet host did not answer in time',
  HOTSWAP_ERR_FLEET_MISMATCH: 'the fleet hosts staged files that differ',
  HOTSWAP_ERR_FLEET_REFUSED: 'a fleet host refused or could not be reached: nothing changed on any host',
  HOTSWAP_ERR_FLEET_UNDONE: 'a fleet host could not switch after the decision: the hosts that had switched were undone',
  HOTSWAP_ERR_FLEET_SPLIT: 'the fleet is left split: a host could not switch and a switched host could not be undone',
  HOTSWAP_ERR_FLEET_DISAGREES: 'the fleet hosts do not serve the same live database',
  HOTSWAP_ERR_FLEET_BUSY: 'another fleet command holds the fleet lease',
  HOTSWAP_ERR_FLEET_UNFINISHED: 'an unfinished fleet decision must be finished first (fleet recover)',
  HOTSWAP_ERR_FLEET_UNDO_REFUSED: 'the fleet hosts have no same previous generation to go back to',
  HOTSWAP_ERR_INTERNAL: 'internal error',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class HotswapError extends Error {
  readonly code: ErrorCode
  /** Extra lines shown after the one-line message (a schema diff, in-flight requests). */
  readonly details: string[]

  constructor (code: ErrorCode, message?: string, details: string[] = []) {
    super(message ?? ErrorCodes[code])
    this.name = 'HotswapError'
    this.code = code
    this.details = details
  }
}

export function isHotswapError (err: unknown): err is HotswapError {
  if (!(err instanceof Error)) return false
  const code = (err as unknown as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('HOTSWAP_ERR_')
}

/** Errors cross thread and process boundaries as plain objects; this rebuilds them. */
export function toHotswapError (err: unknown): HotswapError {
  if (err instanceof HotswapError) return err
  if (isHotswapError(err)) {
    const e = err as unknown as { code: ErrorCode, message: string, details?: string[] }
    return new HotswapError(e.code, e.message, Array.isArray(e.details) ? e.details : [])
  }
  const message = err instanceof Error ? err.message : String(err)
  return new HotswapError('HOTSWAP_ERR_INTERNAL', message)
}

/** Every exit status a hotswap process or a socket command ends with. */
export const ExitCodes = {
  ok: 0,
  /** Any failure but a usage error. */
  failure: 1,
  /** Bad command-line usage (HOTSWAP_ERR_USAGE), as oclif's own parse errors. */
  usage: 2,
  /**
   * EX_CONFIG (sysexits.h): a worker that retrying cannot help, e.g. its port is taken; the
   * supervisor does not restart it.
   */
  config: 78,
} as const

export type ExitCode = typeof ExitCodes[keyof typeof ExitCodes]

/** The exit status a failure ends with: usage for a usage error, failure for the rest. */
export function exitCodeOf (err: unknown): ExitCode {
  return toHotswapError(err).code === 'HOTSWAP_ERR_USAGE' ? ExitCodes.usage : ExitCodes.failure
}

/** A failure as our CLI prints it: "ERROR [CODE] message", then each detail line indented. */
export function formatError (err: unknown): string {
  const e = toHotswapError(err)
  return [`ERROR [${e.code}] ${e.message}`, ...e.details.map((d) => `  ${d}`)].join('\n') + '\n'
}
