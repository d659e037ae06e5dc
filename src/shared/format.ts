/** Bytes for people: B, KiB, MiB, GiB. Shared by the server's status and the client's progress. */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`
}

const SIZE_UNITS = new Map<string, number>([['', 1], ['b', 1], ['k', 1024], ['kb', 1024], ['kib', 1024],
  ['m', 1024 ** 2], ['mb', 1024 ** 2], ['mib', 1024 ** 2], ['g', 1024 ** 3], ['gb', 1024 ** 3], ['gib', 1024 ** 3]])

/** A size as people write it (`10485760`, `512k`, `10M`, `1GiB`: powers of 1024), or undefined. */
export function parseSize (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m === null ? undefined : SIZE_UNITS.get((m[2] as string).toLowerCase())
  if (m === null || unit === undefined) return undefined
  const n = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(n) ? n : undefined
}
