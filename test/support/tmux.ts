// A command on a pseudo-terminal whose screen can be read back while it runs: a tmux session on
// a tmux server of the test's own (-L, no config file), the command exec'd in its one pane (so
// the pane's pid is the command's), the pane kept once the command exits (its exit status read
// from tmux). close() kills that server and, by its pid, anything left.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { isAlive } from './wait.js'

export interface TmuxPane {
  /** The command's pid. */
  pid: number
  /** What the terminal shows now, one string per row, trailing blanks cut. */
  screen: () => string
  /** Keys as tmux send-keys names them ('q', 'Down', 'C-c'). */
  keys: (...keys: string[]) => void
  /** null while the command runs; its exit status once it ended. */
  exitStatus: () => number | null
  close: () => void
}

let sessions = 0

export function inTmux (commandLine: string, opts: { cwd: string, width?: number, height?: number, env?: Record<string, string> }): TmuxPane {
  const server = `hotswap-test-${process.pid}-${++sessions}`
  const tmux = (...args: string[]): string => {
    const r = spawnSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { cwd: opts.cwd, encoding: 'utf8', env: { ...process.env, ...opts.env } })
    if (r.error !== undefined) throw new Error(`tmux is needed for a terminal that can be read back: ${r.error.message}`)
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  tmux('new-session', '-d', '-s', 'test', '-x', String(opts.width ?? 120), '-y', String(opts.height ?? 40), '-c', opts.cwd, `exec ${commandLine}`,
    ';', 'set-option', '-t', 'test', 'remain-on-exit', 'on')
  const serverPid = Number(tmux('display-message', '-p', '-t', 'test', '#{pid}').trim())
  const pid = Number(tmux('list-panes', '-t', 'test', '-F', '#{pane_pid}').trim())
  return {
    pid,
    screen: () => tmux('capture-pane', '-p', '-t', 'test'),
    keys: (...keys) => { tmux('send-keys', '-t', 'test', ...keys) },
    exitStatus: () => {
      // A process killed by a signal has no status but its signal: 128 + it, as a shell says.
      const [dead, status, signal] = tmux('list-panes', '-t', 'test', '-F', '#{pane_dead} #{pane_dead_status} #{pane_dead_signal}').trim().split(' ')
      if (dead !== '1') return null
      if (status !== undefined && status !== '') return Number(status)
      // Dead, but neither its status nor its signal collected yet (tmux marks the pane first):
      // not known yet. Read as 128 + NaN, a q that exited 0 failed the monit test once.
      return signal !== undefined && signal !== '' ? 128 + Number(signal) : null
    },
    close: () => {
      spawnSync('tmux', ['-L', server, 'kill-server'])
      for (const p of [pid, serverPid]) if (p > 0 && isAlive(p)) process.kill(p, 'SIGKILL')
    },
  }
}

/** CPU time (user + system, in seconds) a process used so far, from /proc/PID/stat. */
export function cpuSecondsOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(getconfClkTck())
  return (Number(fields[11]) + Number(fields[12])) / ticks
}

let clkTck: string | undefined
function getconfClkTck (): string {
  clkTck ??= spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || '100'
  return clkTck
}
