// What a database's `.hotswap/` folder holds, and how its small files are written: the manifest
// (which generations there are, which one is live), the stage records and the intent records.
//
//   DIR/app.sqlite3                         the live generation
//   DIR/.hotswap/app.sqlite3/manifest.json  { live, next, generations: newest first }
//   DIR/.hotswap/app.sqlite3/2.sqlite3      a kept generation (a hard link: same filesystem)
//   DIR/.hotswap/app.sqlite3/stage-ID.*     a staged file and its record (stages.ts)
//   DIR/.hotswap/app.sqlite3/intent-ID.json a commit in progress (intent.ts)
//
// Every record is written whole or not at all: a temp file, fsynced, renamed over the old one,
// the folder fsynced. A reader never sees half a manifest, and a crash leaves the old or the new.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, promises as fsp } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'

export const MANIFEST = 'manifest.json'

/** Where a generation's bytes came from. */
export type GenerationSource =
  | { kind: 'existing' }
  | { kind: 'file', path: string }
  | { kind: 'stdin' }
  | { kind: 'undo', of: number }

export interface Generation {
  /** 1, 2, 3…: per database, never reused. */
  id: number
  /** When it went live (ISO 8601). */
  createdAt: string
  source: GenerationSource
  /** Size when it went live; for a kept one, its size when it was retired. */
  bytes: number
  /**
   * SHA-256 of the file as it went live; for a kept one, of the file as kept (the app wrote to it
   * while it was live). null: not computed (the file found at the first start, or not yet).
   */
  digest: string | null
  /** The pause that made it live (null: the first, or a commit finished by a restart). */
  pauseMs: number | null
  /**
   * When the last worker resumed on it, in ms since the epoch (its host's clock, to the
   * microsecond), and how long after the install began (a held commit: after its go): a fleet's
   * skew is the spread of its hosts' resumes. Absent: made live before these were recorded.
   */
  resumedAt?: number
  goToResumeMs?: number
  /** The commit (push, commit, undo) that made it live: `undo` without a name undoes the last. */
  commit: string | null
}

export interface Manifest {
  version: 1
  /** The live file, for a person reading the folder. */
  database: string
  live: number
  next: number
  /** The live file's inode when last saved: one replaced while no server ran is noticed. */
  liveIno?: number | undefined
  /** Newest first; the live one among them, every other one a file `<id>.sqlite3` here. */
  generations: Generation[]
}

/** The `.hotswap/<file name>/` folder of a live database. */
export function folderOf (livePath: string): string {
  return join(dirname(livePath), '.hotswap', basename(livePath))
}

export function keptFileName (id: number): string {
  return `${id}.sqlite3`
}

/** Makes the folder (0700: it holds copies of the data) on the live file's filesystem. */
export function ensureFolder (livePath: string): string {
  const dir = folderOf(livePath)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot make ${dir}, where the kept generations of ${livePath} go: ${(err as Error).message}`)
  }
  if (statSync(dir).dev !== statSync(livePath).dev) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG',
      `${dir} is on another filesystem than ${livePath}: kept generations must be on the same one (a rename, not a copy); serve --keep 0 keeps none`)
  }
  return dir
}

export function readJson<T> (path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

function tempNameFor (path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`)
}

/** `path` replaced by `value` as JSON, durably (start-up only: it blocks the event loop). */
export function writeJsonSync (path: string, value: unknown): void {
  const temp = tempNameFor(path)
  const fd = openSync(temp, 'wx', 0o600)
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, path)
  fsyncDirSync(dirname(path))
}

/** `path` replaced by `value` as JSON, durably, off the event loop. */
export async function writeJson (path: string, value: unknown): Promise<void> {
  const temp = tempNameFor(path)
  const fh = await fsp.open(temp, 'wx', 0o600)
  try {
    await fh.writeFile(JSON.stringify(value, null, 2) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await fsp.rename(temp, path)
  await fsyncDir(dirname(path))
}

/** Removes a record durably: once this returns, a crash does not bring it back. */
export async function removeDurably (path: string): Promise<void> {
  await fsp.rm(path, { force: true })
  await fsyncDir(dirname(path))
}

export function removeDurablySync (path: string): void {
  rmSync(path, { force: true })
  fsyncDirSync(dirname(path))
}

export function fsyncDirSync (dir: string): void {
  const fd = openSync(dir, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

export async function fsyncDir (dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}

/** The generations other than the live one, newest first. */
export function keptOf (m: Manifest): Generation[] {
  return m.generations.filter((g) => g.id !== m.live)
}

export function liveOf (m: Manifest): Generation {
  const g = m.generations.find((x) => x.id === m.live)
  if (g === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `the manifest of ${m.database} does not list its live generation ${m.live}`)
  return g
}

/** A short line of where a generation came from, for history and the logs. */
export function describeSource (s: GenerationSource): string {
  switch (s.kind) {
    case 'existing': return 'found at start-up'
    case 'file': return s.path
    case 'stdin': return 'stdin'
    case 'undo': return `undo to ${s.of}`
  }
}
