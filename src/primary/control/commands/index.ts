// The socket's commands, one file each (as src/commands/ holds the CLI's): the table
// connection.ts looks a command's name up in.

import type { Command } from '../session.js'
import { abort, commit } from './commit.js'
import { cp } from './cp.js'
import { help } from './help.js'
import { history } from './history.js'
import { logs } from './logs.js'
import { reload } from './reload.js'
import { status } from './status.js'
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
  ['logs', logs],
  ['reload', reload],
  ['status', status],
  ['undo', undo],
  ['version', version],
])
