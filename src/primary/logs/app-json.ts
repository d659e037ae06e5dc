// A JSON line an app's own logger wrote (pino, winston, bunyan) as one record of ours: its level
// and message taken as ours, its other fields merged in beside them, not the whole line
// double-encoded into a message string.
//
//   {"level":50,"time":…,"msg":"db down","reqId":42}   (pino)
//     ──▶ level error, message "db down", fields { time, reqId, … }

import { LOG_LEVELS } from '../../shared/logger.js'

export interface AppRecord {
  level: string
  message: string
  fields: Record<string, unknown>
}

/** Level names other loggers use, as winston's npm levels (a Map: no Object.prototype names). */
const ALIASES = new Map<string, string>([
  ['fatal', 'error'], ['critical', 'error'], ['crit', 'error'], ['alert', 'error'], ['emerg', 'error'],
  ['warning', 'warn'], ['notice', 'info'], ['trace', 'silly'],
])

/**
 * Fields of ours an app's field of the same name must not replace: it is kept as app<Name>. And
 * `__proto__`, which winston's Object.assign of the fields would take for the prototype.
 */
const OURS = new Set(['level', 'message', 'role', 'workerPid', 'stream', 'timestamp', '__proto__'])

/** pino's and bunyan's numbers: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
function numericLevel (n: number): string {
  if (n >= 50) return 'error'
  if (n >= 40) return 'warn'
  if (n >= 30) return 'info'
  if (n >= 20) return 'debug'
  return 'silly'
}

function levelOf (v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return numericLevel(v)
  if (typeof v !== 'string') return undefined
  const name = v.toLowerCase()
  return LOG_LEVELS.includes(name) ? name : ALIASES.get(name)
}

/**
 * The record a line stands for when it is one JSON object; undefined for any other line.
 * `fallback` is the level of the stream it came on, for a line with no level we know.
 */
export function appJsonRecord (line: string, fallback: string): AppRecord | undefined {
  const text = line.trim()
  if (!text.startsWith('{') || !text.endsWith('}')) return undefined
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined
  const fields: Array<[string, unknown]> = []
  let message: string | undefined
  let level: string | undefined
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if ((key === 'msg' || key === 'message') && typeof value === 'string' && message === undefined) {
      message = value
    } else if (key === 'level' && level === undefined && levelOf(value) !== undefined) {
      level = levelOf(value)
    } else {
      fields.push([OURS.has(key) ? `app${key[0]?.toUpperCase() ?? ''}${key.slice(1)}` : key, value])
    }
  }
  // fromEntries: every key an own property, a field named __proto__ included (no setter runs).
  return { level: level ?? fallback, message: message ?? '', fields: Object.fromEntries(fields) }
}
