// `hotswap monit`: a live view of the server, refreshed every `intervalMs`. Each refresh is one
// `monit` command on the control socket (a JSON line of counters, shared/monit-report.ts); the
// rates come from two reports in a row (rates.ts), the log pane from a LogFeed (ring-feed.ts:
// the server's recent records over one `logs --follow` connection),
// the screen from ink (view.ts). The next refresh is timed from the end of the last one, so a
// slow server is never asked twice at once. Kept cheap (pm2's monit takes a core, pm2 #2793):
// one small socket exchange and one ink frame a second, and nothing in between.
//
//   tick ─▶ runRemote(['monit']) ─▶ withRates(report, previous) ─▶ feed.poll ─▶ rerender ─▶ tick in intervalMs
//   keys: q / Ctrl-C quit, ↑ ↓ j k or 1-9 pick a worker, a (or Esc) all workers

import type { Key } from 'ink'
import { HotswapError, toHotswapError } from '../../shared/errors.js'
import type { MonitReport } from '../../shared/monit-report.js'
import { remoteJson } from '../remote-json.js'
import type { LogFeed, LogLine } from './log-feed.js'
import { RingFeed } from './ring-feed.js'
import { withRates, type MonitModel } from './rates.js'
import type { ScreenProps } from './view.js'

export const DEFAULT_INTERVAL_MS = 1000
/** Log lines kept for the pane (the screen shows the last ones that fit). */
const LOG_KEPT = 200

export interface MonitOptions {
  socketPath: string
  intervalMs: number
  /** The log pane's source; the server's ring of recent records (RingFeed) unless told. */
  feed?: LogFeed
}

/** Runs until q or Ctrl-C; resolves with the exit status. */
export async function monit (opts: MonitOptions): Promise<number> {
  if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', 'monit draws on a terminal: run it with stdin and stdout on one (for scripts: hotswap status --json)')
  }
  // ink draws only the final frame when it believes it runs in CI (is-in-ci reads CI): on a
  // terminal that is a blank screen until the exit. A terminal is checked above; a person is
  // watching it, whatever CI says. And React's production build: its development build checks
  // every element and doubled monit's CPU. Both are read when the modules load, just below.
  process.env.CI = 'false'
  process.env.NODE_ENV = 'production'
  const [{ render }, { createElement: h }, { Screen }] = await Promise.all([import('ink'), import('react'), import('./view.js')])
  const feed = opts.feed ?? new RingFeed(opts.socketPath)
  let previous: MonitReport | undefined
  let model: MonitModel | undefined
  let error: string | undefined
  let picked: number | undefined
  let logs: LogLine[] = []
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const props = (): ScreenProps => ({
    socket: opts.socketPath, intervalMs: opts.intervalMs, model, error, picked, logs, onKey,
    logRows: Math.max(3, (process.stdout.rows ?? 24) - 8 - (model?.workers.length ?? 0) - (model?.report.databases.length ?? 0)),
  })
  const draw = (): void => { if (!stopped) app.rerender(h(Screen, props())) }

  function onKey (input: string, key: Key): void {
    if (input === 'q' || (key.ctrl && input === 'c')) { app.unmount(); return }
    const slots = (model?.workers ?? []).map((w) => w.id).filter((id, i, all) => all.indexOf(id) === i)
    if (key.upArrow || key.downArrow || input === 'j' || input === 'k') {
      if (slots.length === 0) return
      const at = picked === undefined ? -1 : slots.indexOf(picked)
      const step = key.upArrow || input === 'k' ? -1 : 1
      picked = slots[(at + step + slots.length) % slots.length]
    } else if (/^[1-9]$/.test(input) && slots.includes(Number(input))) {
      picked = Number(input)
    } else if (input === 'a' || key.escape) {
      picked = undefined
    } else {
      return
    }
    draw()
  }

  const tick = async (): Promise<void> => {
    try {
      const report = await remoteJson<MonitReport>(opts.socketPath, ['monit'])
      model = withRates(report, previous)
      previous = report
      error = undefined
      logs = [...logs, ...await feed.poll(report)].slice(-LOG_KEPT)
    } catch (err) {
      error = toHotswapError(err).message
    }
    draw()
    if (!stopped) timer = setTimeout(() => { void tick() }, opts.intervalMs)
  }

  const app = render(h(Screen, props()), { exitOnCtrlC: true, patchConsole: false })
  void tick()
  await app.waitUntilExit()
  stopped = true
  clearTimeout(timer)
  feed.close()
  return 0
}
