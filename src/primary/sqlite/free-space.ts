// How many bytes a directory's filesystem has free for this user (statfs: bavail blocks), for
// the numbers a HOTSWAP_ERR_NO_SPACE message names. Null when the directory cannot be asked.

import { statfsSync } from 'node:fs'

export function availableBytes (dir: string): number | null {
  try {
    const fs = statfsSync(dir)
    return fs.bavail * fs.bsize
  } catch {
    return null
  }
}

/** ", and N are available" (or were, when taken before the write that failed); empty when unknown. */
export function availableClause (available: number | null, tense: 'are' | 'were' = 'are'): string {
  return available === null ? '' : `, and ${available} ${tense} available`
}
