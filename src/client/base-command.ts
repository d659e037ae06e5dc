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
    if (err.oclif?.exit !== ExitCodes.usage) return await super.catch(err)
    const [first = 'bad usage', ...rest] = err.message.split('\n').map((l) => l.trim()).filter((l) => l !== '')
    process.exitCode = reportError(new HotswapError('HOTSWAP_ERR_USAGE', first, rest))
    return undefined
  }
}
