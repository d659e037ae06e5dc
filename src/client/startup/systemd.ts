// `hotswap startup systemd`: a unit that starts the running server the way it was started
// (the `startup` socket command says how: shared/startup-info.ts), as README "### systemd"
// lays one out: node and the CLI by their full paths, the same arguments and working
// directory, the control socket in the unit's RuntimeDirectory (so not --socket), ExecReload
// waiting for `hotswap reload`, ExecStop for `hotswap stop`, Restart=on-failure.
//
//   StartupInfo + { name, user } ─▶ unitFor() ─▶ the unit's text (stdout)

import type { StartupInfo } from '../../shared/startup-info.js'

export interface UnitOptions {
  /** The unit's name: its RuntimeDirectory (/run/NAME) and Description. */
  name: string
  /** User= (default: the server's user). */
  user?: string
}

/** A name systemd takes for a unit and a directory under /run. */
export const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/**
 * One word of an Exec line: `%` is a specifier and `$` a variable there, so both are doubled;
 * a word with a blank, a quote, a backslash or a `;` (a command separator) is double-quoted.
 */
export function execWord (word: string, inExec = true): string {
  let v = word.replace(/%/g, '%%')
  if (inExec) v = v.replace(/\$/g, '$$$$')
  if (v === '' || /[\s"'\\;]/.test(v)) v = `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
  return v
}

/** The arguments less --socket: the unit's socket is in its RuntimeDirectory (HOTSWAP_SOCKET). */
function withoutSocket (args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--') { out.push(...args.slice(i)); break }
    if (a === '--socket') { i++; continue }
    if (a.startsWith('--socket=')) continue
    out.push(a)
  }
  return out
}

export function unitFor (info: StartupInfo, opts: UnitOptions): string {
  const cli = [info.execPath, ...info.execArgv, info.script]
  const exec = (...words: string[]): string => [...cli, ...words].map((w) => execWord(w)).join(' ')
  const socket = `/run/${opts.name}/hotswap.sock`
  const env = Object.entries(info.env)
    .filter(([k]) => k !== 'HOTSWAP_SOCKET' && !k.startsWith('HOTSWAP_TEST_'))
    .sort(([a], [b]) => a.localeCompare(b))
  const user = opts.user ?? info.user
  // Stopping takes the workers' drain (--kill-timeout, then SIGKILL 1.5 s later) and the rest
  // of the shutdown: systemd must not SIGKILL the primary first.
  const stopSec = Math.max(30, Math.ceil(info.killTimeoutMs / 1000) + 20)
  return [
    `# /etc/systemd/system/${opts.name}.service: made by \`hotswap startup systemd\` from the server`,
    `# running in ${info.cwd} (pid ${info.pid}), as it was started then.`,
    '[Unit]',
    `Description=${opts.name} under hotswap`,
    'After=network.target',
    '',
    '[Service]',
    `User=${user}`,
    ...(opts.user === undefined && info.group !== null ? [`Group=${info.group}`] : []),
    `WorkingDirectory=${info.cwd.replace(/%/g, '%%')}`,
    // A release symlink (current -> releases/N) is followed at every fork only when the server
    // knows the directory by that name: systemd sets no PWD.
    ...(info.cwd !== info.realCwd ? [`Environment=${execWord(`PWD=${info.cwd}`, false)}`] : []),
    ...env.map(([k, v]) => `Environment=${execWord(`${k}=${v}`, false)}`),
    '# The control socket in /run/NAME: made for User= (0700) at every start, removed at the stop.',
    `RuntimeDirectory=${opts.name}`,
    'RuntimeDirectoryMode=0700',
    `Environment=HOTSWAP_SOCKET=${socket}`,
    `ExecStart=${exec(...withoutSocket(info.args))}`,
    '# Waits until every worker is replaced, and fails (so does `systemctl reload`) when a',
    '# replacement never becomes ready.',
    `ExecReload=${exec('reload')}`,
    '# A graceful stop through the socket that waits for the exit; SIGTERM does the same after it.',
    `ExecStop=${exec('stop')}`,
    'Restart=on-failure',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${stopSec}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}
