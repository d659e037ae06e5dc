// The working directory as the user named it. process.cwd() is getcwd(2): the directory's real
// path, with every symlink resolved. After `cd /srv/app/current` (current -> releases/1) it says
// /srv/app/releases/1, so anything resolved against it stays on release 1 after the link moves
// on. The shell keeps the path as typed in $PWD; it is used when it still names the directory
// this process is in (same device and inode), as `pwd -L` does.

import { statSync } from 'node:fs'
import { isAbsolute } from 'node:path'

export function workingDirectory (): string {
  const physical = process.cwd()
  const pwd = process.env.PWD
  if (pwd === undefined || !isAbsolute(pwd) || pwd === physical) return physical
  try {
    const a = statSync(pwd)
    const b = statSync(physical)
    return a.dev === b.dev && a.ino === b.ino ? pwd : physical
  } catch {
    return physical
  }
}
