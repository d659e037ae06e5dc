// A row of block characters, one per value, scaled from zero to the largest value (a pause
// window of 0 ms is the lowest block, the longest the highest): the last swaps' pauses at a
// glance.

const BLOCKS = '▁▂▃▄▅▆▇█'

export function sparkline (values: readonly number[]): string {
  if (values.length === 0) return ''
  const top = Math.max(...values)
  if (!(top > 0)) return BLOCKS[0]!.repeat(values.length)
  return values.map((v) => BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, Math.round((v / top) * (BLOCKS.length - 1))))]).join('')
}
