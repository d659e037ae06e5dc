// What the unit tests of src/worker/database/ share: real SQLite files in a temp dir, and a swap
// done the way the runtime does it, without a serve process: slot.pause() (what pauseWorker
// calls), the file replaced on disk by another real SQLite file (renamed over it, as the
// install does), slot.resume() (what resumeWorker calls).

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { Slot } from '../../../src/worker/database/slot.js'
import { SwapSafeDatabase } from '../../../src/worker/database/handle.js'
import { namesDb as makeDb, namesIn, testDir, type TestContext } from '../../support/files.js'

// makeDb(file, names): items(id, name) holding names; namesIn(file): them, read on a connection
// of its own (not the slot's).
export { testDir as tempDir, makeDb, namesIn, type TestContext }

/** A slot and its handle on `dir/live.sqlite3` (holding `names`), shut down when the test ends. */
export function openLive (t: TestContext, dir: string, names: string[]): { slot: Slot, db: SwapSafeDatabase, file: string } {
  const file = makeDb(path.join(dir, 'live.sqlite3'), names)
  const slot = new Slot('live', file)
  t.after(() => { try { slot.shutdown() } catch { /* a test left it busy on purpose */ } })
  return { slot, db: new SwapSafeDatabase(slot), file }
}

/**
 * One swap: pause the slot, rename a new real SQLite file (holding `names`) over `file`,
 * resume. `whilePaused` runs between the rename and the resume.
 */
export function swap (slot: Slot, file: string, names: string[], whilePaused?: () => void): void {
  slot.pause()
  const next = makeDb(`${file}.next-${Math.random().toString(36).slice(2)}`, names)
  fs.renameSync(next, file)
  whilePaused?.()
  slot.resume()
}

/** A second name for the file now at `file`: the old file stays readable once a swap renames a new one over it. */
export function keepOld (file: string): string {
  const old = path.join(path.dirname(file), 'old-inode.sqlite3')
  fs.linkSync(file, old)
  return old
}

/** Shuts the slot down; then the live file must hold `want.live` and the old one (keepOld) `want.old`. */
export function assertFilesHold (slot: Slot, file: string, old: string, want: { live: string[], old: string[] }): void {
  slot.shutdown()
  assert.deepEqual(namesIn(file), want.live, 'what the live file holds')
  assert.deepEqual(namesIn(old), want.old, 'what the old file holds')
}

/** The code of the error `fn` throws; undefined when it throws none, or one without a code. */
export function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}
