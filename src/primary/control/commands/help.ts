// `help [COMMAND]` on the socket: the commands as Thor lists the gem's (its client sends no
// arguments for help), or the usage of one.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { shown, type Session } from '../session.js'

/** What `help` lists, as Thor lists the gem's commands (its client sends no arguments for help). */
const USAGE: ReadonlyArray<readonly [name: string, usage: string, what: string]> = [
  ['abort', 'abort [ID...]', 'Drop staged databases (all when none is named)'],
  ['commit', 'commit [ID...]', 'Swap staged databases in, all in one pause (all staged when none is named)'],
  ['cp', 'cp SRC DST [--stage]', 'Copy a database to/from the running server'],
  ['help', 'help [COMMAND]', 'Describe available commands or one specific command'],
  ['history', 'history [DB...] [--json]', 'List each database\'s generations, the live one marked'],
  ['logs', 'logs [--lines N] [--follow] [--worker N] [--json]', 'Print the recent log records, then follow new ones'],
  ['monit', 'monit', 'The counters of hotswap monit, as one JSON line'],
  ['reload', 'reload [--parallel N]', 'Restart the workers one at a time onto the app\'s current code'],
  ['scale', 'scale N', 'Run N workers: start more, or drain and stop the extra ones'],
  ['startup', 'startup', 'How this server was started, as one JSON line (for hotswap startup systemd)'],
  ['status', 'status [--json] [--check]', 'Show the workers and the managed databases (--check: exit 3 unless every worker is ready)'],
  ['stop', 'stop', 'Shut the server down gracefully; returns once it has'],
  ['undo', 'undo [DB...] [--to ID]', 'Swap the previous generation back in'],
  ['version', 'version', 'Print the hotswap version'],
]

export async function help (s: Session): Promise<number> {
  s.stdin.resume()
  const asked = s.args[1]
  if (asked !== undefined) {
    const one = USAGE.find(([name]) => name === asked)
    if (one === undefined) {
      throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown command ${shown(asked)} (commands: ${USAGE.map(([n]) => n).join(', ')})`)
    }
    await s.stdout(`Usage:\n  hotswap ${one[1]}\n\n${one[2]}\n`)
    return ExitCodes.ok
  }
  const width = Math.max(...USAGE.map(([, usage]) => usage.length))
  await s.stdout(['Commands:', ...USAGE.map(([, usage, what]) => `  hotswap ${usage.padEnd(width)}  # ${what}`), ''].join('\n') + '\n')
  return ExitCodes.ok
}
