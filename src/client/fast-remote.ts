// `history`, `status` and `lease` without oclif, in the plain shapes a fleet coordinator runs on
// every host several times per `fleet cp` (src/client/fleet/: the vote's `history LIVE --json`,
// the summary's `history --json`, `status --json`, the fleet's `lease fleet --owner O --ttl MS`).
// Importing and loading oclif costs ~0.35 s of CPU of a ~0.45 s start, on each host, each time;
// these paths start in ~0.12 s, as `cp`'s does (fast-cp.ts). Anything else (help, --socket,
// an unknown or repeated flag, a value oclif would refuse) returns null and goes to oclif, which
// owns every usage message; the two paths accept the same shapes (a test compares them).
//
//   history [DB ...] [--json]     status [--json]     lease NAME --owner O [--ttl MS]

import { socketPath } from '../shared/socket-path.js'
import { reportError } from './output.js'
import { remoteCommand } from './remote-command.js'
import { status } from './status.js'

/** What bin/run.js runs for these argv (after the command word), or null: oclif's. */
export type FastRemote =
  | { command: 'history', dbs: string[], json: boolean }
  | { command: 'status', json: boolean }
  | { command: 'lease', name: string, owner: string, ttl?: number }

const plain = (a: string | undefined): a is string => a !== undefined && a !== '' && !a.startsWith('-')

export function parseFastRemote (command: string | undefined, argv: readonly string[]): FastRemote | null {
  if (command === 'history' || command === 'status') {
    const words = argv.filter((a) => a !== '--json')
    const json = argv.length - words.length
    if (json > 1 || !words.every(plain)) return null
    if (command === 'status') return words.length === 0 ? { command, json: json === 1 } : null
    return { command, dbs: words, json: json === 1 }
  }
  if (command === 'lease') {
    const [name, ...rest] = argv
    if (!plain(name)) return null
    let owner: string | undefined
    let ttl: number | undefined
    for (let i = 0; i < rest.length; i += 2) {
      const [flag, value] = [rest[i], rest[i + 1]]
      if (flag === '--owner' && owner === undefined && plain(value)) owner = value
      else if (flag === '--ttl' && ttl === undefined && value !== undefined && /^\d{4,6}$/.test(value) && Number(value) >= 1000 && Number(value) <= 600_000) ttl = Number(value)
      else return null
    }
    return owner === undefined ? null : { command, name, owner, ...(ttl === undefined ? {} : { ttl }) }
  }
  return null
}

/** Runs the command when its arguments are plain; null means "let oclif handle this". */
export async function fastRemote (command: string | undefined, argv: readonly string[]): Promise<number | null> {
  const o = parseFastRemote(command, argv)
  if (o === null) return null
  const socket = socketPath()
  switch (o.command) {
    case 'history':
      return await remoteCommand(socket, ['history', ...o.dbs, ...(o.json ? ['--json'] : [])])
    case 'status':
      try {
        return await status(socket, o.json, false)
      } catch (err) {
        return reportError(err)
      }
    case 'lease':
      return await remoteCommand(socket, ['lease', o.name, '--owner', o.owner, ...(o.ttl === undefined ? [] : ['--ttl', String(o.ttl)])], { stdin: process.stdin })
  }
}
