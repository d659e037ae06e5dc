// A swapped-in file takes the live file's owner, group and mode: a swap does not change who may
// read the database. Checked before the pause, so a refusal costs the app nothing.

import { promises as fsp } from 'node:fs'
import { HotswapError } from '../../shared/errors.js'

/**
 * Gives the temp file the live file's owner, group and permission bits. The owner and group
 * are set first (chown clears set-id bits, and they are not kept anyway). Root may set any;
 * another user only a group it belongs to (chown(2)). Where the server may not set them the
 * push is refused: a swap that quietly made root:daemon 0640 into root:root 0640 locked the
 * group's readers out. The stat and chown are by path: neither opens the live file.
 */
export async function keepOwnership (tempPath: string, livePath: string): Promise<void> {
  const live = await fsp.stat(livePath)
  const temp = await fsp.stat(tempPath)
  if (temp.uid !== live.uid || temp.gid !== live.gid) {
    try {
      await fsp.chown(tempPath, live.uid, live.gid)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EPERM' && code !== 'EINVAL') throw err
      const me = `uid ${process.getuid?.() ?? '?'}`
      throw new HotswapError('HOTSWAP_ERR_DESTINATION',
        `${livePath} is owned by ${live.uid}:${live.gid}, which this server (${me}) cannot give the new file: ` +
        'the swap would change who may read the database; run serve as root or as the file\'s owner, ' +
        `or chown the live file to the server's user first (${code})`)
    }
  }
  await fsp.chmod(tempPath, live.mode & 0o777)
}
