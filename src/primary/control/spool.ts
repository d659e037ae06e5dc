// Where a pull's snapshot waits while it is streamed (`cp LIVE -`, a pull into a FIFO or a
// device): a private directory of this server's in the spool (`serve --spool DIR`, default the
// system's temp directory), never beside the live database. A snapshot is a whole copy: written
// beside the live file on a half-full volume it failed, and the app's own writes met
// SQLITE_FULL meanwhile. Every snapshot also checks first that it fits where it goes.
//
//   DIR/hotswap-spool-<pid>-XXXXXX/   0700, this server's; removed at exit
//       pull-<hex>.tmp                0600, one per pull, removed when the pull ends
//   at start-up: hotswap-spool-<pid>-* of a primary that is gone (killed) are removed

import { randomBytes } from 'node:crypto'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { alive } from '../../shared/alive.js'
import { HotswapError } from '../../shared/errors.js'
import type { DatabaseInfo } from '../../shared/messages.js'

const SPOOL_DIR = /^hotswap-spool-(\d+)-/

/**
 * Checks `base` (the spool setting, or the temp directory), removes what killed primaries left
 * there, and makes this server's private directory. Returns it and what was removed.
 */
export function createSpool (base: string | undefined): { dir: string, removed: string[] } {
  const root = base ?? tmpdir()
  let st
  try {
    st = statSync(root)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `the spool directory ${root} cannot be used: ${(err as Error).message}`)
  }
  if (!st.isDirectory()) throw new HotswapError('HOTSWAP_ERR_CONFIG', `the spool ${root} is not a directory`)
  // Others may not rename our directory away (a world-writable one needs the sticky bit, as /tmp).
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `the spool directory ${root} is writable by everyone without the sticky bit; use a private directory`)
  }
  const removed: string[] = []
  const uid = process.getuid?.()
  for (const name of readdirSync(root)) {
    const m = SPOOL_DIR.exec(name)
    if (m === null) continue
    const pid = Number(m[1])
    if (pid === process.pid || alive(pid)) continue
    const p = join(root, name)
    try {
      const l = lstatSync(p)
      if (!l.isDirectory() || (uid !== undefined && l.uid !== uid)) continue
      rmSync(p, { recursive: true, force: true })
      removed.push(p)
    } catch { /* gone meanwhile */ }
  }
  let dir: string
  try {
    dir = mkdtempSync(join(root, `hotswap-spool-${process.pid}-`)) // 0700
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot create a directory in the spool ${root}: ${(err as Error).message}`)
  }
  return { dir, removed }
}

export function removeSpool (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/**
 * A new snapshot's path in the spool. The directory is made again when it has gone (a cleaner
 * of /tmp, systemd-tmpfiles' age rule, removes what a long idle server made), and refused
 * when what has its name is not this user's private directory.
 */
export function spoolPathFor (dir: string): string {
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot make the spool directory ${dir}: ${(err as Error).message}`)
  }
  const st = lstatSync(dir)
  const uid = process.getuid?.()
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `the spool directory ${dir} is no longer this server's private directory; restart the server`)
  }
  return join(dir, `pull-${randomBytes(6).toString('hex')}.tmp`)
}

/**
 * Refuses a snapshot of `db` that would not fit in `dir`, with the numbers. The snapshot is at
 * most the database plus its WAL. Sizes come from stat and statfs: neither opens a live file.
 */
export function checkRoomForSnapshot (db: DatabaseInfo, dir: string, dbs: DatabaseInfo[]): void {
  const needed = sizeOf(db.path) + sizeOf(`${db.path}-wal`)
  checkRoom(dir, needed, `the snapshot of ${db.name}`, dbs, 'pull into a file elsewhere, or give serve --spool DIR on another filesystem')
}

/** Refuses a push of a server-side file (and its -wal) that would not fit beside `db`. */
export function checkRoomForUpload (db: DatabaseInfo, src: string, dbs: DatabaseInfo[]): void {
  const needed = sizeOf(src) + sizeOf(`${src}-wal`)
  checkRoom(dirname(db.path), needed, `the upload of ${src}`, dbs, 'free some space beside the live database')
}

/** Refuses a streamed push whose client announced `size` bytes that would not fit beside `db`. */
export function checkRoomForStream (db: DatabaseInfo, size: number, dbs: DatabaseInfo[]): void {
  checkRoom(dirname(db.path), size, 'the streamed upload', dbs, 'free some space beside the live database')
}

function sizeOf (p: string): number {
  try { return statSync(p).size } catch { return 0 }
}

/**
 * `needed` bytes must fit in `dir`; on a live database's filesystem they must also leave
 * headroom (a tenth of the filesystem, at most 64 MiB), so that the app's own writes do not
 * meet SQLITE_FULL while the copy exists.
 */
function checkRoom (dir: string, needed: number, what: string, dbs: DatabaseInfo[], hint: string): void {
  let fs
  let dev
  try {
    fs = statfsSync(dir)
    dev = statSync(dir).dev
  } catch {
    return // The write itself reports what is wrong with the directory.
  }
  const available = fs.bavail * fs.bsize
  const onLiveVolume = dbs.some((d) => { try { return statSync(d.path).dev === dev } catch { return false } })
  const headroom = onLiveVolume ? Math.min(64 * 1024 * 1024, Math.floor(fs.blocks * fs.bsize / 10)) : 0
  if (available >= needed + headroom) return
  throw new HotswapError('HOTSWAP_ERR_NO_SPACE',
    `not enough space in ${dir} for ${what}: it needs up to ${needed} bytes` +
    (onLiveVolume ? ` plus ${headroom} bytes left free for the live database on the same filesystem` : '') +
    `, and ${available} are available; ${hint}`)
}
