// A strict parser of the Prometheus text exposition format (0.0.4), for the tests of /metrics:
// every line must parse, a family's TYPE comes before its samples and its samples stay
// together, no series appears twice, counters are not negative, and each histogram's buckets
// are ordered, cumulative and end with +Inf equal to its _count. No maintained npm package
// parses the format (parse-prometheus-text-format has had no change since 2018), hence this.
// scrape() GETs a path of the metrics listener, on a TCP port or a Unix socket.

import http from 'node:http'

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample { name: string, labels: Record<string, string>, value: number }

export interface Family { name: string, type: MetricType, help: string, samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue (text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/.test(text)) throw new Error(`bad value ${JSON.stringify(text)} in: ${line}`)
  return Number(text)
}

/** `{a="1",b="x\"y"}` from position `i` of `line`: the labels and where they end. */
function parseLabels (line: string, i: number): { labels: Record<string, string>, end: number } {
  const labels: Record<string, string> = {}
  i++ // '{'
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 }
    const eq = line.indexOf('=', i)
    if (eq < 0) throw new Error(`unterminated labels in: ${line}`)
    const name = line.slice(i, eq)
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`)
    if (Object.hasOwn(labels, name)) throw new Error(`label ${name} twice in: ${line}`)
    if (line[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`)
    let value = ''
    let j = eq + 2
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] !== '\\') { value += line[j]; continue }
      const next = line[++j]
      if (next === '\\') value += '\\'
      else if (next === '"') value += '"'
      else if (next === 'n') value += '\n'
      else throw new Error(`bad escape \\${next ?? ''} in: ${line}`)
    }
    if (j >= line.length) throw new Error(`unterminated label value in: ${line}`)
    labels[name] = value
    i = j + 1
    if (line[i] === ',') i++
    else if (line[i] !== '}') throw new Error(`expected , or } after label ${name} in: ${line}`)
  }
}

/** The family a sample named `name` belongs to, given the declared types. */
function familyOf (name: string, declared: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const t = declared.get(base)?.type
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base
  }
  return name
}

function checkHistogram (f: Family): void {
  const series = new Map<string, Array<{ le: number, value: number }>>()
  const counts = new Map<string, number>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}_bucket without le`)
      series.set(key, [...(series.get(key) ?? []), { le: parseValue(le, s.name), value: s.value }])
    } else if (s.name === `${f.name}_count`) counts.set(key, s.value)
    else if (s.name !== `${f.name}_sum`) throw new Error(`${s.name} in histogram ${f.name}`)
  }
  for (const [key, buckets] of series) {
    for (let i = 1; i < buckets.length; i++) {
      const [a, b] = [buckets[i - 1], buckets[i]] as [{ le: number, value: number }, { le: number, value: number }]
      if (!(a.le < b.le)) throw new Error(`${f.name} ${key}: buckets out of order`)
      if (b.value < a.value) throw new Error(`${f.name} ${key}: buckets not cumulative`)
    }
    const last = buckets[buckets.length - 1]
    if (last?.le !== Infinity) throw new Error(`${f.name} ${key}: no +Inf bucket`)
    if (counts.get(key) !== last.value) throw new Error(`${f.name} ${key}: _count ${String(counts.get(key))} is not the +Inf bucket ${last.value}`)
  }
}

/** Every family of an exposition, by name; throws on the first thing the format does not allow. */
export function parsePrometheus (text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline')
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  let current: string | undefined
  const family = (name: string): Family => {
    let f = families.get(name)
    if (f === undefined) {
      f = { name, type: 'untyped', help: '', samples: [] }
      families.set(name, f)
    }
    return f
  }
  for (const line of text.split('\n').slice(0, -1)) {
    if (line.trim() === '') continue
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
    if (meta !== null) {
      const [, kind, name = '', rest = ''] = meta
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
      const f = family(name)
      if (f.samples.length > 0) throw new Error(`${kind ?? ''} of ${name} after its samples`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) throw new Error(`bad type in: ${line}`)
        f.type = rest as MetricType
      } else {
        f.help = rest.replace(/\\(.)/g, (_m, c: string) => c === 'n' ? '\n' : c)
      }
      current = name
      continue
    }
    if (line.startsWith('#')) continue
    const nameEnd = line.search(/[{ ]/)
    if (nameEnd <= 0) throw new Error(`not a sample: ${line}`)
    const name = line.slice(0, nameEnd)
    if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
    let labels: Record<string, string> = {}
    let i = nameEnd
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i))
    const parts = line.slice(i).trim().split(/ +/)
    if (line[i] !== ' ' || parts.length < 1 || parts.length > 2) throw new Error(`bad sample: ${line}`)
    const value = parseValue(parts[0] ?? '', line)
    if (parts[1] !== undefined && !/^-?[0-9]+$/.test(parts[1])) throw new Error(`bad timestamp in: ${line}`)
    const fname = familyOf(name, families)
    if (current !== fname && families.get(fname)?.samples.length) throw new Error(`samples of ${fname} are not together`)
    current = fname
    const f = family(fname)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`series twice: ${line}`)
    seen.add(key)
    if (f.type === 'counter' && (value < 0 || Number.isNaN(value))) throw new Error(`negative counter: ${line}`)
    f.samples.push({ name, labels, value })
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

/** The value of the one sample `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = [...families.values()].flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return hits[0]?.value
}

/** Where the metrics listener is: a TCP port on 127.0.0.1, or a Unix socket path. */
export type MetricsTarget = { port: number } | { socketPath: string }

/** GET (or another method) `path` of the metrics listener. */
export async function scrape (target: MetricsTarget, path: string, method = 'GET'): Promise<{ status: number, type: string, body: string }> {
  return await new Promise((resolve, reject) => {
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }
    const req = http.request({ ...where, path, method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }))
      res.on('error', reject)
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** GET /metrics, parsed (strictly). */
export async function scrapeMetrics (target: MetricsTarget): Promise<Map<string, Family>> {
  const r = await scrape(target, '/metrics')
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`)
  return parsePrometheus(r.body)
}
