// How the CLI reports a failure: one line on stderr, "ERROR [CODE] message", plus any detail
// lines (a schema diff), and an exit code (2 for usage, 1 otherwise).

import { toHotswapError } from '../shared/errors.js'

export function reportError (err: unknown): number {
  const e = toHotswapError(err)
  const lines = [`ERROR [${e.code}] ${e.message}`, ...e.details.map((d) => `  ${d}`)]
  process.stderr.write(lines.join('\n') + '\n')
  return e.code === 'HOTSWAP_ERR_USAGE' ? 2 : 1
}
