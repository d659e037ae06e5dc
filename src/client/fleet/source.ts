// The file a fleet cp sends to every host, as one local file each host's stream reads from:
//
//   -     ─▶ stdin spooled to a private temp file (every host reads the same bytes, each at its pace)
//   FILE  ─▶ -wal beside it? one consistent VACUUM INTO snapshot (rows in the -wal kept) : the file
//   sourceDigest ─▶ the SHA-256 of those bytes, which every host must say it received

import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, promises as fsp, realpathSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { HotswapError } from '../../shared/errors.js'
import { removeWithSideFiles } from '../../primary/sqlite/side-files.js'

export interface FleetSource {
  path: string
  bytes: number
  /** Removes the spool or snapshot, if one was made. */
  cleanup: () => void
}

export async function fleetSource (src: string, cwd: string): Promise<FleetSource> {
  const temp = join(tmpdir(), `hotswap-fleet-${randomBytes(6).toString('hex')}.sqlite3`)
  const cleanup = (): void => { removeWithSideFiles(temp) }
  if (src === '-') {
    if (process.stdin.isTTY === true) throw new HotswapError('HOTSWAP_ERR_USAGE', 'fleet cp - reads the database from stdin, which is a terminal: pipe a file in, or name it')
    try {
      await pipeline(process.stdin, createWriteStream(temp, { flags: 'wx', mode: 0o600 }))
    } catch (err) {
      cleanup()
      throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot spool stdin to ${temp}: ${(err as Error).message}`)
    }
    return { path: temp, bytes: statSync(temp).size, cleanup }
  }
  let path: string
  try {
    path = realpathSync(resolve(cwd, src))
    if (!statSync(path).isFile()) throw new Error('not a regular file')
    await fsp.access(path, fsp.constants.R_OK)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${src}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  if (!existsSync(`${path}-wal`)) return { path, bytes: statSync(path).size, cleanup: () => {} }
  // Committed rows may live only in the -wal: read the source through SQLite, never as raw bytes.
  const { vacuumInto } = await import('../../primary/sqlite/vacuum-into.js')
  const copied = vacuumInto(path, temp)
  if (!copied.ok) {
    cleanup()
    throw new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read ${src} (it has a -wal beside it) through SQLite: ${(copied.error as Error).message}`)
  }
  return { path: temp, bytes: statSync(temp).size, cleanup }
}

/** "sha256:<hex>" of the file sent (read as a stream, beside the stages); or why it could not be read. */
export async function sourceDigest (path: string): Promise<{ digest?: string, error?: HotswapError }> {
  try {
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer)
    return { digest: `sha256:${hash.digest('hex')}` }
  } catch (err) {
    return { error: new HotswapError('HOTSWAP_ERR_SOURCE', `cannot read the source again for its digest: ${(err as Error).message}`) }
  }
}
