// How the CLI reports a failure: the error's lines on stderr (shared/errors.ts formatError:
// "ERROR [CODE] message" plus any detail lines, a schema diff) and its exit status.

import { exitCodeOf, formatError, type ExitCode } from '../shared/errors.js'

export function reportError (err: unknown): ExitCode {
  process.stderr.write(formatError(err))
  return exitCodeOf(err)
}
