// `hotswap cp` without oclif. Deploy scripts, cron backups and loops over databases call `cp`
// far more than anything else, and importing @oclif/core alone costs ~120 ms of a ~200 ms
// start. bin/run.js tries this first. Whatever it does not recognise (help, an unknown or
// repeated flag, `--`, a wrong number of arguments) returns null and goes to oclif, which owns
// every usage message; the two paths accept the same flags (a test compares them).

import { socketPath } from '../shared/socket-path.js'
import { cp, type CpOptions } from './cp.js'
import { reportError } from './output.js'

/** The boolean flags of `hotswap cp` (src/commands/cp.ts), besides --socket. */
export const CP_BOOLEAN_FLAGS = ['force', 'skip-integrity-check', 'skip-schema-check', 'stage'] as const
type BooleanFlag = typeof CP_BOOLEAN_FLAGS[number]

export function parseCpArgs (argv: readonly string[]): CpOptions | null {
  const positional: string[] = []
  const set = new Set<BooleanFlag>()
  let socket: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '-' || !arg.startsWith('-')) {
      positional.push(arg)
      continue
    }
    const [name, value] = arg.startsWith('--') ? splitOnce(arg.slice(2)) : [arg, undefined]
    if (name === 'socket' && socket === undefined) {
      socket = value ?? argv[++i]
      if (socket === undefined || socket === '' || (value === undefined && socket.startsWith('-'))) return null
      continue
    }
    if (value !== undefined || !(CP_BOOLEAN_FLAGS as readonly string[]).includes(name) || set.has(name as BooleanFlag)) return null
    set.add(name as BooleanFlag)
  }
  const [src, dst] = positional
  if (positional.length !== 2 || src === undefined || dst === undefined) return null
  return {
    src,
    dst,
    socketPath: socketPath(socket),
    force: set.has('force'),
    skipIntegrityCheck: set.has('skip-integrity-check'),
    skipSchemaCheck: set.has('skip-schema-check'),
    stage: set.has('stage'),
  }
}

/** The whole command: an exit code, errors reported on stderr. */
export async function runCp (o: CpOptions): Promise<number> {
  try {
    return await cp(o)
  } catch (err) {
    return reportError(err)
  }
}

/** Runs `cp` when its arguments are plain; null means "let oclif handle this". */
export async function fastCp (argv: readonly string[]): Promise<number | null> {
  const o = parseCpArgs(argv)
  return o === null ? null : await runCp(o)
}

function splitOnce (s: string): [string, string | undefined] {
  const eq = s.indexOf('=')
  return eq === -1 ? [s, undefined] : [s.slice(0, eq), s.slice(eq + 1)]
}
