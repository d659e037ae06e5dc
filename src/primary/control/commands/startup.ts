// `startup` on the socket: how this server was started (shared/startup-info.ts), as one JSON
// line, for `hotswap startup systemd` to write a unit from.

import { readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { StartupInfo } from '../../../shared/startup-info.js'
import { workingDirectory } from '../../../shared/working-directory.js'
import { shown, type ServerContext, type Session } from '../session.js'

/** The name of group `gid` in /etc/group, or null. */
function groupName (gid: number): string | null {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , id] = line.split(':')
      if (name !== undefined && name !== '' && Number(id) === gid) return name
    }
  } catch { /* no /etc/group */ }
  return null
}

export async function startup (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  const extra = s.args[1]
  if (extra !== undefined) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown argument ${shown(extra)} for startup (it takes none)`)
  const me = userInfo()
  const env = Object.fromEntries(Object.entries(process.env)
    .filter((e): e is [string, string] => e[1] !== undefined && (e[0].startsWith('HOTSWAP_') || e[0] === 'NODE_ENV')))
  const info: StartupInfo = {
    pid: process.pid,
    execPath: process.execPath,
    execArgv: process.execArgv,
    script: process.argv[1] ?? '',
    args: process.argv.slice(2),
    cwd: workingDirectory(),
    realCwd: process.cwd(),
    user: me.username,
    uid: me.uid,
    group: groupName(me.gid),
    env,
    killTimeoutMs: ctx.killTimeoutMs,
  }
  await s.stdout(JSON.stringify(info) + '\n')
  return ExitCodes.ok
}
