// The folder of a managed database must be writable by the server's user: a swap writes the new
// file beside the live one and renames it over it, the server keeps its lock file there, and
// SQLite creates the -wal and -shm there. A folder the server could not write used to start
// fine, and then the workers crash-looped on "attempt to write a readonly database" and the
// first push failed as `HOTSWAP_ERR_SOURCE cannot read -` (its temp file's EACCES, taken for the
// source's). serve now refuses such a folder at start-up, and a push into one made unwritable
// since is refused, both as HOTSWAP_ERR_DESTINATION naming the folder.

import { accessSync, constants } from 'node:fs'
import { dirname } from 'node:path'
import { HotswapError } from '../../shared/errors.js'

/** Throws HOTSWAP_ERR_DESTINATION, naming the folder, when this process cannot create files beside `livePath`. */
export function checkDatabaseDirectory (livePath: string, when: string): void {
  const dir = dirname(livePath)
  try {
    // access(2) checks by path with the real uid, as the server's own opens will be checked.
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_DESTINATION',
      `${when}: the database directory ${dir} is not writable by this server's user (uid ${process.getuid?.() ?? '?'}): ` +
      `a swap writes the new file there, and SQLite its -wal and -shm (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
      'make it writable by that user (chown it, or mount the volume as that user)')
  }
}
