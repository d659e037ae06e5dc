// The socket's commands, one file each (as src/commands/ holds the CLI's): the table
// connection.ts looks a command's name up in.

import type { Command } from '../session.js'
import { abort, commit } from './commit.js'
import { cp } from './cp.js'
import { help } from './help.js'
import { history } from './history.js'
import { lease } from './lease.js'
import { logs } from './logs.js'
import { monit } from './monit.js'

import { reload } from './reload.js'
import { scale } from './scale.js'
import { startup } from './startup.js'
import { status } from './status.js'
import { stop } from './stop.js'
import { undo } from './undo.js'
import { version } from './version.js'

/** The socket's commands. A name from the socket is looked up by own keys only (a Map): indexing
 * a plain object with it found `constructor`, `toString`, `__proto__` on Object.prototype. */
export const commands: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['abort', abort],
  ['commit', commit],
  ['cp', cp],
  ['help', help],
  ['history', history],
  ['lease', lease],
  ['logs', logs],
  ['monit', monit],
  ['reload', reload],
  ['scale', scale],
  ['startup', startup],
  ['status', status],
  ['stop', stop],
  ['undo', undo],
  ['version', version],
])
