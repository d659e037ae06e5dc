// Who else has a database open: the /proc/PID/fd scan the swap runs before it pauses anyone.
//
//   /proc/*/fd/* ─▶ readlink ─▶ the database or one of its side files? ─▶ Holder
//
// Reading /proc opens no descriptor of the database, so it is safe beside connections.

import fs from 'node:fs'
import path from 'node:path'
import type { TaskResult } from './result.js'
import { SIDE_SUFFIXES } from './side-files.js'

export interface FindHoldersInput {
  paths: string[]
  excludePids: number[]
}

export interface Holder {
  pid: number
  command: string
  path: string
}

/**
 * Lists outside processes that have a database or one of its side files open, by reading the
 * /proc/PID/fd symlinks. Locks and a busy checkpoint only reveal a process while it is inside
 * a transaction; this also sees one that opened the file and has been idle since. Only Linux
 * has /proc in this form; elsewhere the answer is empty.
 */
export function findHolders (input: FindHoldersInput): TaskResult<Holder[]> {
  if (process.platform !== 'linux') return { ok: true, value: [] }
  const targets = new Set<string>()
  for (const p of input.paths) {
    for (const base of spellings(p)) {
      targets.add(base)
      for (const suffix of SIDE_SUFFIXES) targets.add(base + suffix)
    }
  }
  const skip = new Set([process.pid, ...input.excludePids])

  const holders: Holder[] = []
  for (const entry of ignoreRaces(() => fs.readdirSync('/proc'), [])) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (skip.has(pid)) continue
    const seen = new Set<string>()
    for (const fd of ignoreRaces(() => fs.readdirSync(`/proc/${pid}/fd`), [])) {
      const target = ignoreRaces(() => fs.readlinkSync(`/proc/${pid}/fd/${fd}`), null)
      if (target === null || seen.has(target)) continue
      // The kernel marks a file that was unlinked or renamed over while open. Such a process
      // still reaches the live -wal and -shm by name, so it counts.
      const bare = target.endsWith(' (deleted)') ? target.slice(0, -' (deleted)'.length) : target
      if (!targets.has(bare)) continue
      seen.add(target)
      holders.push({ pid, command: commandOf(pid), path: target })
    }
  }
  return { ok: true, value: holders }
}

/** The absolute path as given, and with its directory's symlinks resolved, as /proc shows it. */
function spellings (p: string): string[] {
  const abs = path.resolve(p)
  const out = [abs]
  const realDir = ignoreRaces(() => fs.realpathSync(path.dirname(abs)), null)
  if (realDir !== null) {
    const real = path.join(realDir, path.basename(abs))
    if (real !== abs) out.push(real)
  }
  return out
}

function commandOf (pid: number): string {
  const cmdline = ignoreRaces(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '')
  const command = cmdline.replace(/\0/g, ' ').trim() ||
    ignoreRaces(() => fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), '').trim()
  return command.length > 120 ? command.slice(0, 120) : command
}

/** Processes come and go during a scan, and other users' fds are not ours to read. */
function ignoreRaces<T> (fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'ENOENT' || code === 'EPERM' || code === 'ESRCH') return fallback
    throw err
  }
}
