import { Command, Flags } from '@oclif/core'
import { ExitCodes, HotswapError } from '../shared/errors.js'
import { DEFAULT_SOCKET } from '../shared/socket-path.js'
import { reportError } from './output.js'

/** The --socket flag every command shares. */
export const socketFlag = Flags.string({ description: `control socket path [default: $HOTSWAP_SOCKET or ${DEFAULT_SOCKET}]` })

/**
 * The base of every hotswap command. oclif reports its own parse errors (an unknown flag, a
 * missing argument) with a usage banner and no code, from outside run(); the CLI's contract
 * is one "ERROR [HOTSWAP_ERR_USAGE] ..." line on stderr and exit 2.
 */
export abstract class HotswapCommand extends Command {
  protected async catch (err: Error & { exitCode?: number, oclif?: { exit?: number | false } }): Promise<unknown> {
    const usage = usageErrorOf(err)
    if (usage === undefined) return await super.catch(err)
    process.exitCode = reportError(usage)
    return undefined
  }
}

/** An oclif error that exits 2 (a parse error, a bad argument), as HOTSWAP_ERR_USAGE; else undefined. */
export function usageErrorOf (err: Error & { code?: unknown, oclif?: { exit?: number | false } }): HotswapError | undefined {
  // this.exit(2) is an ExitError (code EEXIT): a chosen status, not a message to print.
  if (err.oclif?.exit !== ExitCodes.usage || err.code === 'EEXIT') return undefined
  const [first = 'bad usage', ...rest] = err.message.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  return new HotswapError('HOTSWAP_ERR_USAGE', first, rest)
}
