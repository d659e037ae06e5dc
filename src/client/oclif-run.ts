// Runs oclif for bin/run.js (everything the fast cp path does not take). oclif prints its own
// usage errors ("›   Error: ...", exit 2) for the commands of its plugins (autocomplete, help)
// and for what happens before any command runs; the CLI's contract is one
// "ERROR [HOTSWAP_ERR_USAGE] ..." line and exit 2 for every usage error, so they are reported
// here as our commands report theirs (base-command.ts). Anything else is oclif's to handle.

import { flush, handle, run } from '@oclif/core'
import { usageErrorOf } from './base-command.js'
import { reportError } from './output.js'

export async function runOclif (argv: readonly string[], dir: string): Promise<void> {
  const args = [...argv]
  // `hotswap --version` is `hotswap version` (oclif's own prints another line).
  if (args[0] === '--version') args[0] = 'version'
  try {
    await run(args, dir)
    await flush()
  } catch (err) {
    const usage = usageErrorOf(err as Error)
    if (usage === undefined) return await handle(err as Error)
    process.exitCode = reportError(usage)
  }
}

