// The piscina entry file: the table of tasks pool threads run on files (pool.ts runs them by
// name). Every piece of SQLite and disk work the primary does runs off its event loop: the
// primary accepts every connection for the workers on Linux, so a checkpoint or a snapshot on
// its own thread would stall every request; here it only blocks a pool thread.
//
// THE RULE OF THIS FOLDER: never touch live files with `fs` in a process that holds
// connections to them. Never open and close the live files (or their side files) with `fs`
// here: POSIX locks are per process, so closing any descriptor of a file drops every lock this
// process holds on it, including those of SQLite connections in other pool threads. Unlink,
// link and rename do not open the file and are safe.
//
//   push:  upload ─▶ temp file ─▶ validate ───────────▶ [lock, pause] ─▶ installSet ───────▶ [resume]
//                                 header, integrity,                    checkpoint, rm side
//                                 schema, journal mode,                 files, link old,
//                                 fsync                                 rename, fsync dir
//          local source with a -wal ─▶ readSourceThroughSqlite (VACUUM INTO) ─▶ temp file
//   pull:  live db ─▶ snapshot (VACUUM INTO) ─▶ file streamed to the client
//   who else has it open: /proc/*/fd ─▶ findHolders
//   what a kept file holds: SHA-256 ─▶ digest (an upload once validated, a retired generation)
//   /metrics's build info: the SQLite version ─▶ sqliteVersion (an in-memory database)
//   a commit of several: the same installSet (all quiesced, all linked, all renamed, each dir
//   fsynced once); install() is a set of one, for the start-up recovery (no pool there)
//   a held commit (a fleet's host): quiesceSet (checkpoint, rm side files) while it waits for
//   its go, so that at the go installSet has only the links, renames and dir fsync left
//
// Every task takes one structured-clonable input and returns a TaskResult (result.ts).

import { findHolders } from './holders.js'
import { digest } from './digest.js'
import { installSet as installSetWith, quiesceSet, type InstallSetInput } from './install.js'
import { crashPoint } from '../../shared/crash-point.js'
import type { TaskResult } from './result.js'
import { readSourceThroughSqlite, snapshot } from './snapshot.js'
import { sqliteVersion } from './sqlite-version.js'
import { validate } from './validate.js'

/** A commit's installs, with the crash points after each rename (shared/crash-point.ts). */
function installSet (input: InstallSetInput): ReturnType<typeof installSetWith> {
  return installSetWith(input, (i) => { crashPoint(`renamed-${i + 1}`) })
}

const tasks = {
  validate,
  installSet,
  quiesceSet,
  digest,
  findHolders,
  snapshot,
  readSourceThroughSqlite,
  sqliteVersion,
} satisfies Record<string, (input: never) => TaskResult<unknown>>

/** The tasks by name: TaskPool.run is typed by it. */
export type TaskTable = typeof tasks

// Piscina calls the module's export named as the task; every entry of the table is one.
export { validate, installSet, quiesceSet, digest, findHolders, snapshot, readSourceThroughSqlite, sqliteVersion }
