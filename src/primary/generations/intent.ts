// The intent record of a commit (a push, an undo, a commit of several databases): which files
// are renamed where, written and fsynced into every database's folder before the pause, removed
// once every manifest is saved. A primary killed in between leaves it behind, and the next
// start (recoverSync) makes the set all old or all new from it, before any worker runs:
//
//   no item renamed yet   ─▶ back: nothing changed; the links made for the old files go
//   any item renamed      ─▶ forward: the rest installed from their files (still there: a stage
//                            or an upload is only removed after the commit), every manifest saved
//
// Whether an item was renamed is read off the inodes: the live path's inode is the new file's
// once its rename happened (rename(2) keeps the inode), the old file's before.

import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import type { DatabaseInfo } from '../../shared/messages.js'
import { install } from '../sqlite/install.js'
import { removeSideFiles } from '../sqlite/side-files.js'
import { folderOf, MANIFEST, readJson, removeDurably, removeDurablySync, writeJson, writeJsonSync, type Manifest } from './manifest.js'

export interface IntentItem {
  db: string
  livePath: string
  /** The file renamed over the live path (an upload, a stage, a kept generation for an undo). */
  newPath: string
  newIno: number
  oldIno: number
  /** Where the old file is linked, as a kept generation. */
  keepPath: string
  /** The database's manifest once the commit is done. */
  manifest: Manifest
  /** A stage's record, removed with the commit (its file is the new one). */
  stageRecord: string | null
}

export interface Intent {
  version: 1
  id: string
  kind: 'push' | 'commit' | 'undo'
  createdAt: string
  items: IntentItem[]
}

const NAME = /^intent-([0-9a-f]+)\.json$/

function pathIn (livePath: string, id: string): string {
  return join(folderOf(livePath), `intent-${id}.json`)
}

/** Durable in every database's folder once this returns (before the first rename). */
export async function writeIntent (intent: Intent): Promise<void> {
  await Promise.all(intent.items.map(async (item) => { await writeJson(pathIn(item.livePath, intent.id), intent) }))
}

export async function removeIntent (intent: Intent): Promise<void> {
  await Promise.all(intent.items.map(async (item) => { await removeDurably(pathIn(item.livePath, intent.id)) }))
}

/**
 * At start-up, before the generation stores are opened and before any worker runs: finishes or
 * undoes each commit an earlier primary left half done. Returns a line per commit recovered.
 */
export function recoverSync (dbs: DatabaseInfo[], log: Logger): string[] {
  const intents = new Map<string, Intent>()
  for (const db of dbs) {
    const dir = folderOf(db.path)
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir)) {
      if (!NAME.test(name)) continue
      const file = join(dir, name)
      let intent: Intent
      try {
        intent = readJson<Intent>(file)
      } catch {
        // Written whole or not at all (a temp file renamed): an unreadable one was never complete,
        // so no rename followed it.
        rmSync(file, { force: true })
        continue
      }
      intents.set(intent.id, intent)
    }
  }
  const done: string[] = []
  for (const intent of intents.values()) {
    const missing = intent.items.filter((i) => !dbs.some((d) => d.path === i.livePath))
    if (missing.length > 0) {
      throw new HotswapError('HOTSWAP_ERR_CONFIG',
        `an interrupted ${intent.kind} (${intent.id}) also changed ${missing.map((i) => i.livePath).join(', ')}, which this server does not serve: ` +
        'start serve with every database of that commit, so that it can finish it')
    }
    done.push(recoverOne(intent, log))
  }
  return done
}

function inodeOf (path: string): number | null {
  try { return statSync(path).ino } catch { return null }
}

function recoverOne (intent: Intent, log: Logger): string {
  const renamed = intent.items.filter((i) => inodeOf(i.livePath) === i.newIno)
  const what = `${intent.kind} ${intent.id} of ${intent.items.map((i) => i.db).join(', ')}`
  if (renamed.length === 0) {
    // Nothing was renamed: every database is on its old file. Links to the old files made in
    // the pause are not listed anywhere; the store removes them when it opens.
    for (const item of intent.items) removeDurablySync(pathIn(item.livePath, intent.id))
    const line = `an interrupted ${what} was rolled back: no file had been renamed, every database is on its old generation`
    log.warn(line, { event: 'recovered', commit: intent.id, direction: 'back' })
    return line
  }
  for (const item of intent.items) {
    if (renamed.includes(item)) continue
    if (inodeOf(item.newPath) !== item.newIno || inodeOf(item.livePath) !== item.oldIno) {
      throw new HotswapError('HOTSWAP_ERR_CONFIG',
        `an interrupted ${what} renamed some files but ${item.newPath} is no longer the file to install into ${item.livePath}; ` +
        `the databases may be mixed: restore them by hand (the old ones are kept in ${folderOf(item.livePath)})`)
    }
    // No connection is open (no worker runs yet): install as a pause does, old file kept.
    removeSideFiles(item.newPath)
    const r = install({ tempPath: item.newPath, livePath: item.livePath, force: false, busyTimeoutMs: 1000, keepPath: item.keepPath })
    if (!r.ok) throw new HotswapError(r.code, `finishing the interrupted ${what}: ${r.message}`, r.details)
    if (r.value.oldLinkPath !== null) rmSync(r.value.oldLinkPath, { force: true })
  }
  for (const item of intent.items) {
    const m = structuredClone(item.manifest)
    m.liveIno = item.newIno
    writeJsonSync(join(folderOf(item.livePath), MANIFEST), m)
    if (item.stageRecord !== null) removeDurablySync(item.stageRecord)
  }
  for (const item of intent.items) removeDurablySync(pathIn(item.livePath, intent.id))
  const line = `an interrupted ${what} was finished: ${renamed.length} of ${intent.items.length} file(s) had been renamed, every database is on its new generation`
  log.warn(line, { event: 'recovered', commit: intent.id, direction: 'forward' })
  return line
}
