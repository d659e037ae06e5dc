// Every command resolves paths (the socket, cp's sides, serve's files) against the working
// directory. Run from a directory that was deleted (a release directory removed under a shell),
// the first process.cwd() threw ENOENT from deep inside, as a stack trace or as INTERNAL.

import { HotswapError } from '../shared/errors.js'
import { reportError } from './output.js'

/** Null when the working directory exists; else reports it (one coded line) and returns the exit code. */
export function checkWorkingDirectory (): number | null {
  try {
    process.cwd()
    return null
  } catch (err) {
    return reportError(new HotswapError('HOTSWAP_ERR_USAGE',
      `the working directory no longer exists (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}); cd to an existing directory and run the command again`))
  }
}
