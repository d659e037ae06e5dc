// monit's screen, drawn by ink (React for the terminal: it diffs each frame against the last
// and writes only what changed; no escape codes of ours). Four panes: the primary's line, the
// workers (the picked one marked), the databases (with a sparkline of their last pauses) and
// the latest log lines (the picked worker's only, when one is picked). Everything it shows
// comes in its props; the keys go to `onKey`.

import { createElement as h, type ReactElement } from 'react'
import { Box, Text, useInput, type Key } from 'ink'
import { formatBytes } from '../../shared/format.js'
import type { LogLine } from './log-feed.js'
import type { MonitModel, WorkerRow } from './rates.js'
import { sparkline } from './sparkline.js'

export interface ScreenProps {
  socket: string
  intervalMs: number
  model: MonitModel | undefined
  /** Why the last refresh failed (the server is gone, say); the last model stays shown. */
  error: string | undefined
  /** The picked worker's slot, or undefined: none picked. */
  picked: number | undefined
  logs: LogLine[]
  /** How many log lines fit. */
  logRows: number
  onKey: (input: string, key: Key) => void
}

const WORKER_COLUMNS = ['', 'id', 'pid', 'state', 'cpu%', 'rss', 'req/s', 'in flight', 'restarts', 'up'] as const
const WIDTHS = [2, 4, 9, 10, 7, 11, 9, 11, 10, 8]

function cells (values: readonly string[], widths: readonly number[]): string {
  return values.map((v, i) => v.padEnd(widths[i] ?? 10)).join('').trimEnd()
}

function fixed (n: number | null, digits = 1): string {
  return n === null ? '-' : n.toFixed(digits)
}

function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s} s`
  if (s < 7200) return `${Math.round(s / 60)} min`
  return `${Math.round(s / 3600)} h`
}

function stateColor (state: string): string {
  return state === 'ready' ? 'green' : state === 'dead' ? 'red' : 'yellow'
}

function workerLine (w: WorkerRow, picked: boolean): ReactElement {
  const text = cells([picked ? '▶' : '', String(w.id), String(w.pid), w.state, fixed(w.cpuPercent), w.rss === null ? '-' : formatBytes(w.rss),
    fixed(w.reqPerSec), w.inFlight === null ? '-' : String(w.inFlight), String(w.restarts), duration(w.uptimeMs)], WIDTHS)
  return h(Text, { key: `w${w.pid}`, inverse: picked, color: stateColor(w.state), wrap: 'truncate' }, text)
}

function logLine (l: LogLine, i: number): ReactElement {
  const time = new Date(l.at).toISOString().slice(11, 19)
  return h(Text, { key: `l${i}`, wrap: 'truncate', color: l.level === 'error' ? 'red' : l.level === 'warn' ? 'yellow' : undefined }, `  ${time}  ${l.text}`)
}

export function Screen (props: ScreenProps): ReactElement {
  useInput(props.onKey)
  const { model } = props
  const head = model === undefined
    ? `hotswap monit  ${props.socket}  connecting…`
    : `hotswap monit  primary pid ${model.report.primary.pid}  up ${duration(model.report.primary.uptimeMs)}  cpu ${fixed(model.primaryCpuPercent)}%  rss ${formatBytes(model.report.primary.rss)}`
  const workers = model?.workers ?? []
  const dbs = model?.report.databases ?? []
  const dbWidth = Math.max(6, ...dbs.map((d) => d.name.length + 2))
  const pickedRow = workers.find((w) => w.id === props.picked)
  const shownLogs = props.logs.filter((l) => props.picked === undefined || l.worker === props.picked).slice(-props.logRows)
  return h(Box, { flexDirection: 'column' },
    h(Text, { bold: true, wrap: 'truncate' }, head),
    h(Text, { dimColor: true, wrap: 'truncate' }, `q quit  ↑/↓ or 1-9 pick a worker  a all  every ${props.intervalMs} ms  ${props.socket}`),
    props.error === undefined ? null : h(Text, { color: 'red', wrap: 'truncate' }, `! ${props.error}`),
    h(Text, { bold: true }, 'workers'),
    h(Text, { dimColor: true, wrap: 'truncate' }, cells(WORKER_COLUMNS, WIDTHS)),
    ...workers.map((w) => workerLine(w, w.id === props.picked)),
    h(Text, { bold: true }, 'databases'),
    h(Text, { dimColor: true, wrap: 'truncate' }, cells(['', 'name', 'size', 'journal', 'generation', 'swaps', 'pauses (last swaps)'], [2, dbWidth, 11, 9, 12, 7, 20])),
    ...dbs.map((d) => h(Text, { key: `d${d.name}`, wrap: 'truncate' },
      cells(['', d.name, d.size === null ? '?' : formatBytes(d.size), d.journalMode, String(d.generation), String(d.swaps),
        d.pauses.length === 0 ? '-' : `${sparkline(d.pauses)} last ${d.pauses.at(-1) as number} ms, max ${Math.max(...d.pauses)} ms`], [2, dbWidth, 11, 9, 12, 7, 20]))),
    h(Text, { bold: true, wrap: 'truncate' }, pickedRow === undefined ? 'log' : `log of worker ${pickedRow.id} (pid ${pickedRow.pid}, served ${pickedRow.served ?? '-'})`),
    ...(shownLogs.length === 0 ? [h(Text, { key: 'none', dimColor: true }, '  (nothing yet)')] : shownLogs.map(logLine)),
  )
}
