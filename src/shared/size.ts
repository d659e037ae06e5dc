// A size as people write it (`--max-memory 512M`, `1G`, `1.5GiB`, `300MB`): a number and a unit
// of 1024s (K, M, G, with or without B or iB), or plain bytes. The inverse of format.ts's
// formatBytes.

const UNITS = new Map<string, number>([['', 1], ['k', 1024], ['m', 1024 ** 2], ['g', 1024 ** 3], ['t', 1024 ** 4]])

/** Bytes, or null when `text` is not a size. */
export function parseSize (text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text)
  if (m === null) return null
  const unit = UNITS.get((m[2] ?? '').toLowerCase())
  if (unit === undefined) return null
  const n = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(n) ? n : null
}
