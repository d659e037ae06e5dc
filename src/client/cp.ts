// `hotswap cp SRC DST` on the client side. Exactly one side is a managed database; `-` is
// stdin/stdout.
//   push  local file / stdin ──stdin frames──▶ server (validate, swap) ──▶ "OK"
//   pull  server snapshot ──stdout frames──▶ stdout, or a temp file renamed into place
// When the server sees the client's files (same user, same mount namespace), a local FILE is
// sent as its path instead: the server copies it in the kernel, or writes the snapshot in
// place, and no byte crosses the socket. A server in another container gets the bytes.
// This file picks the direction and the way; push.ts and pull.ts do them.

import { ExitCodes, HotswapError } from '../shared/errors.js'
import { findManaged, managedList } from '../shared/managed.js'
import { seesOurFiles } from '../shared/same-files.js'
import type { StatusReport } from '../shared/status-report.js'
import { pullDestination } from '../primary/sqlite/cp-paths.js'
import { runRemote } from './connection.js'
import type { CpOptions } from './cp-options.js'
import { pullFile, pullPath, pullToStdout } from './pull.js'
import { databaseBehindStdin, pushFile, pushPath, pushStdin } from './push.js'
import { refuseTerminal } from './terminal-guard.js'

export type { CpOptions } from './cp-options.js'

/** The managed databases, and whether the server sees this client's files (`status --json`). */
async function serverFacts (socketPath: string): Promise<StatusReport> {
  const chunks: Buffer[] = []
  const reply = await runRemote({
    socketPath,
    args: ['status', '--json'],
    tty: false,
    onStdout: (c) => { chunks.push(c) },
    onStderr: () => {},
  })
  if (reply.exit !== ExitCodes.ok) throw new HotswapError('HOTSWAP_ERR_CONNECTION_LOST', `the server did not list its databases: ${reply.error ?? 'unknown error'}`)
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusReport
}

/** A pull has nothing to stage: its flag is refused before anything is read or written. */
function refuseStage (o: CpOptions): CpOptions {
  if (o.stage) throw new HotswapError('HOTSWAP_ERR_USAGE', '--stage is for a push (cp SRC LIVE --stage), not a pull')
  return o
}

export async function cp (o: CpOptions): Promise<number> {
  if (o.src === '-' && o.dst === '-') throw new HotswapError('HOTSWAP_ERR_USAGE', 'SRC and DST cannot both be -')
  refuseTerminal(o)
  const tty = process.stderr.isTTY === true
  if (o.src === '-') {
    // stdin redirected from a database whose builder still has it open may hold committed rows
    // only in the -wal beside it: push that file as `cp FILE LIVE` would, through SQLite.
    const behind = databaseBehindStdin()
    if (behind !== null) return await pushFile({ ...o, src: behind }, tty, (await serverFacts(o.socketPath)).databases)
    return await pushStdin(o, tty)
  }
  if (o.dst === '-') return await pullToStdout(refuseStage(o), tty)
  const facts = await serverFacts(o.socketPath)
  const dbs = facts.databases
  const srcManaged = findManaged(o.src, process.cwd(), dbs) !== undefined
  const dstManaged = findManaged(o.dst, process.cwd(), dbs) !== undefined
  if (srcManaged && dstManaged) throw new HotswapError('HOTSWAP_ERR_BOTH_MANAGED', `both ${o.src} and ${o.dst} are managed databases; one side must be a file or -`)
  if (!srcManaged && !dstManaged) throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED', `neither ${o.src} nor ${o.dst} is a managed database (managed: ${managedList(dbs)})`)
  // Where the server sees our files, it reads and writes them itself: a push is then a copy in
  // the kernel and a pull a snapshot written in place, with no byte through the socket.
  const local = seesOurFiles(facts.primary)
  if (dstManaged) return local ? await pushPath(o, tty, dbs) : await pushFile(o, tty, dbs)
  refuseStage(o)
  // Checked here, before anything is written (src/primary/sqlite/cp-paths.ts). A FIFO or a device is
  // written here, through: /dev/stdout names this process's stdout, not the server's.
  const target = pullDestination(o.dst, process.cwd(), o.src, dbs)
  return local && !target.through ? await pullPath(o, tty, target) : await pullFile(o, tty, target)
}
