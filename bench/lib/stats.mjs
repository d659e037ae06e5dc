// Small statistics and formatting helpers.

/** Nearest-rank percentile of numbers (p in 0..100). */
export function percentile (values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function median (values) {
  return percentile(values, 50)
}

export function summary (values) {
  if (values.length === 0) return { n: 0 }
  return {
    n: values.length,
    p50: round(percentile(values, 50)),
    p90: round(percentile(values, 90)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(...values)),
    mean: round(values.reduce((a, b) => a + b, 0) / values.length),
  }
}

export function round (x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function fmtMs (x) {
  if (x === null || x === undefined) return '-'
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`
  if (x >= 100) return `${x.toFixed(0)} ms`
  if (x >= 10) return `${x.toFixed(1)} ms`
  return `${x.toFixed(2)} ms`
}

export function fmtBytes (n) {
  if (n === null || n === undefined) return '-'
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${n} B`
}

/** A plain-text table: rows of string cells, first row the header. */
export function table (rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)))
  const line = (r) => '| ' + r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ') + ' |'
  const sep = '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|'
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join('\n')
}
