// What the unit tests of src/primary/generations/ share: a served database seeded in a temp
// folder, a logger that keeps what it was told, and a swap done as the coordinator does it
// (plan, the real install, save, prune) without a server, so the folders hold real files.

import assert from 'node:assert/strict'
import { copyFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import winston from 'winston'
import type { Logger } from '../../../src/shared/logger.js'
import type { DatabaseInfo } from '../../../src/shared/messages.js'
import { install } from '../../../src/primary/sqlite/install.js'
import type { GenerationStore, Planned } from '../../../src/primary/generations/store.js'
import { labelOf, seed } from '../../support/index.js'

export { testDir, labelOf, seed } from '../../support/index.js'

/**
 * The label of a kept (or staged) file, read from a copy: SQLite opening a WAL file makes its
 * -wal and -shm beside it, which would be files in the folder that the server never made.
 */
export function labelOfFile (path: string): string {
  const copy = `${path}.read-copy`
  copyFileSync(path, copy)
  try {
    return labelOf(copy)
  } finally {
    for (const p of [copy, `${copy}-wal`, `${copy}-shm`]) rmSync(p, { force: true })
  }
}

/** A winston logger whose lines are kept in `lines` (message text), printed nowhere. */
export function keptLogger (): { log: Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      lines.push(String((JSON.parse(chunk.toString('utf8')) as { message: unknown }).message))
      done()
    },
  })
  return { log: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines }
}

/** `DIR/NAME.sqlite3` seeded with `label` (the fixture app's schema), as serve would know it. */
export function servedDb (dir: string, name: string, label: string): DatabaseInfo {
  const path = join(dir, `${name}.sqlite3`)
  seed(path, { label })
  return { name, path }
}

/** `DIR/src-LABEL.sqlite3`, seeded with `label`: a file to swap in. */
export function candidate (dir: string, label: string): string {
  const path = join(dir, `src-${label}.sqlite3`)
  seed(path, { label })
  return path
}

let commits = 0

/** Swaps `file` in as the coordinator does (minus the pause): plan, install keeping the old file, save, prune. */
export async function swapIn (store: GenerationStore, file: string, log: Logger, undoOf?: number): Promise<Planned> {
  const plan = store.plan({
    source: undoOf === undefined ? { kind: 'file', path: file } : { kind: 'undo', of: undoOf },
    bytes: statSync(file).size,
    digest: null,
    commit: `c${++commits}`,
    ...(undoOf === undefined ? {} : { undoOf }),
  })
  const r = install({ tempPath: file, livePath: store.db.path, force: false, busyTimeoutMs: 1000, keepPath: plan.keepPath })
  assert.ok(r.ok, `install: ${r.ok ? '' : r.message}`)
  assert.equal(r.value.kept, true, 'the old file is linked as a kept generation')
  await store.save(plan.next)
  await store.prune(log)
  return plan
}

/** Asserts that `fn` throws a HotswapError with `code` (and, when given, a message matching `re`). */
export function throwsCode (fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, `expected ${code}, got ${String(err.code)}: ${err.message}`)
    if (re !== undefined) assert.match(err.message, re)
    return true
  })
}
