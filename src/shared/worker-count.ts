// The N of `hotswap scale N`, checked the same way by the CLI (before it connects) and by the
// socket command (the gem's client, or a hand-made frame, sends any words).

export const SCALE_USAGE = 'scale takes one argument, the number of workers: a positive integer (hotswap scale 4)'

/** N as a number of workers, or null when it is not one (0, negative, not an integer, too many digits). */
export function workerCount (word: string): number | null {
  if (!/^\d{1,6}$/.test(word)) return null
  const n = Number(word)
  return n >= 1 ? n : null
}
