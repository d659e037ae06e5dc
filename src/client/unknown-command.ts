// What `hotswap stauts` says: the closest command by edit distance, in one usage line (exit 2).
// oclif hands the not-found hook (src/hooks/not-found.ts) an id with its words joined by ':'
// ("status:extra" for `hotswap status extra`, a command that takes no argument).

import { HotswapError } from '../shared/errors.js'

/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
export function editDistance (a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length] as number
}

/** The command closest to `word`, if it is near enough to be a typo (at most half its letters off). */
export function closestCommand (word: string, commands: readonly string[]): string | undefined {
  let best: { id: string, d: number } | undefined
  for (const id of commands) {
    const d = editDistance(word.toLowerCase(), id)
    if (best === undefined || d < best.d) best = { id, d }
  }
  return best !== undefined && best.d <= Math.max(2, Math.ceil(word.length / 2)) ? best.id : undefined
}

/** The usage error for an id oclif found no command for; `commands` are the visible ids, with spaces. */
export function unknownCommandError (id: string, commands: readonly string[], bin: string): HotswapError {
  const words = id.split(':')
  for (let n = words.length - 1; n > 0; n--) {
    const command = words.slice(0, n).join(' ')
    if (commands.includes(command)) {
      return new HotswapError('HOTSWAP_ERR_USAGE', `unexpected argument ${JSON.stringify(words[n])} to ${bin} ${command} (see ${bin} ${command} --help)`)
    }
  }
  const typed = words[0] as string
  if (typed.startsWith('-')) return new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${JSON.stringify(typed)} (${bin} --help lists the commands)`)
  const near = closestCommand(typed, commands)
  return new HotswapError('HOTSWAP_ERR_USAGE', near === undefined
    ? `${JSON.stringify(typed)} is not a ${bin} command (${bin} --help lists them)`
    : `${JSON.stringify(typed)} is not a ${bin} command: did you mean ${JSON.stringify(near)}? (${bin} --help lists them)`)
}
