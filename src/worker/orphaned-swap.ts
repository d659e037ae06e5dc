// A primary killed in the middle of a commit of several databases leaves this worker paused on
// all of them, and the files as its crash left them: maybe only some renamed. The worker finishes
// its queued requests before it exits (bootstrap.ts), but reopening then would serve one
// database new and another old in one request. So the pause notes each swapped file's inode;
// after the primary's death the set is reopened only when none or all of them changed.
//
//   pause: inodes noted ─▶ [primary dies] ─▶ none renamed or all renamed: reopen, serve the queue
//                                          ─▶ some renamed: stay closed, the queue refused (503)
// (the next serve start finishes or rolls back the commit from its intent record).

import { statSync } from 'node:fs'

let noted = new Map<string, { path: string, ino: number | null }>()

function inodeOf (path: string): number | null {
  try { return statSync(path).ino } catch { return null }
}

/** At a pause, before any rename: the inode of each swapped database's live file. */
export function noteSwapped (dbs: Array<{ name: string, path: string }>): void {
  noted = new Map(dbs.map((d) => [d.name, { path: d.path, ino: inodeOf(d.path) }]))
}

/** At a resume (the primary says the files are final). */
export function forgetSwapped (): void {
  noted = new Map()
}

/**
 * After the primary died: null when the swapped files are all old or all new (a reopen serves
 * one generation), else which ones were renamed and which not.
 */
export function mixedSwap (): { renamed: string[], notRenamed: string[] } | null {
  const renamed: string[] = []
  const notRenamed: string[] = []
  for (const [name, n] of noted) (inodeOf(n.path) === n.ino ? notRenamed : renamed).push(name)
  return renamed.length > 0 && notRenamed.length > 0 ? { renamed, notRenamed } : null
}
