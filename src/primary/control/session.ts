// What a socket command is given and returns: the Session of one connection (the client's
// args, its stdin frames, writers for stdout and stderr) and the ServerContext every command
// shares. A command returns its exit status; what it throws becomes the connection's error
// reply (connection.ts): "ERROR [CODE] message" for our client, the gem's words for the gem's.

import type { Readable } from 'node:stream'
import type { FileIdentity } from '../../shared/frames.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import type { LogRing } from '../logs/ring.js'
import type { ScaleResult } from '../scale.js'
import type { TaskPool } from '../sqlite/pool.js'
import type { Supervisor } from '../supervisor.js'
import type { SwapCoordinator } from '../swap/coordinator.js'

export interface Session {
  args: string[]
  /** Where relative paths resolve: our client's cwd, else the server's (as the gem expects). */
  cwd: string
  tty: boolean
  /** The client announced no protocol of ours: it reads the gem's words (gem-words.ts). */
  gem: boolean
  /** The file our client means by a path source (device, inode), to be checked before a copy. */
  source?: FileIdentity | undefined
  /** The size our client announced for a streamed push (a regular file); checked against the bytes. */
  size?: number | undefined
  stdin: Readable
  stdout: (data: Buffer | string) => Promise<void>
  stderr: (text: string) => void
  /** The client is gone: disconnected, or (our client) ended its side before the reply. */
  isClosed: () => boolean
  /** Stops the idle timer once an upload is complete (validation may take a while). */
  uploadDone: () => void
}

/** Told how long each push's upload and checks took (primary/metrics/). */
export interface UploadObserver {
  received: (db: string, seconds: number) => void
  validated: (db: string, seconds: number) => void
}

export interface ServerContext {
  databases: DatabaseInfo[]
  coordinator: SwapCoordinator
  pool: TaskPool
  supervisor: Supervisor
  logger: Logger
  socketPath: string
  startedAt: number
  maxBytes: number
  /** This server's private directory for snapshots being streamed (spool.ts). */
  spoolDir: string
  /** Journal mode per database name, read at start-up (a swap keeps it). */
  journalModes: Map<string, string>
  /** The recent log records, and their followers (`logs`, `monit`). */
  logs: LogRing
  /** --kill-timeout: how long a stopping worker may take (a unit's TimeoutStopSec covers it). */
  killTimeoutMs: number
  /** Rolling restart onto new app code, given-up slots first (takes the swap lock). */
  reload: (parallel: number) => Promise<{ replaced: number, revived: number, ms: number }>
  /** `scale N`: more or fewer workers (takes the swap lock). */
  scale: (n: number) => Promise<ScaleResult>
  /** `stop`: the graceful shutdown SIGTERM does; resolves once it is done, just before the exit. */
  stop: () => Promise<void>
  uploads?: UploadObserver
}

export type Command = (s: Session, ctx: ServerContext) => Promise<number>

/** A name from outside, shown in a message or a log line without echoing a megabyte back. */
export function shown (name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)
}
