// What a client that does not announce our protocol reads: the hotswap gem's own words
// (rubymonolith/hotswap, lib/hotswap/database.rb and cli.rb), so that its users' scripts and its
// integration spec keep working. Our client (protocol >= 1) reads coded errors instead.
//
//   push          stderr "Swapping database..." once the checks pass, stdout "OK"
//   pull to FILE  stderr "OK"            pull to -   the bytes on stdout, nothing else
//   errors        "ERROR: <message>", the gem's message where it has one; a schema mismatch
//                 is followed by its "- …" / "+ …" lines
//   unknown       Thor's `Could not find command "NAME".`     no args or help   the commands

import type { HotswapError } from '../../shared/errors.js'
import type { DatabaseInfo } from '../../shared/messages.js'

/** Written on stderr before the swap, as the gem does. */
export const GEM_SWAPPING = 'Swapping database...\n'

/** Whether this client gets the gem's words (it sent no protocol version of ours). */
export function speaksGem (protocol: number | undefined): boolean {
  return protocol === undefined || protocol < 1
}

/** A failure as the gem prints it: "ERROR: <message>", then any detail lines. */
export function gemErrorText (e: HotswapError, databases: readonly DatabaseInfo[]): string {
  const lines: string[] = []
  switch (e.code) {
    case 'HOTSWAP_ERR_SCHEMA_MISMATCH':
      // The gem's diff lines already start with "- " and "+ ".
      return ['ERROR: schema mismatch', ...e.details].join('\n') + '\n'
    case 'HOTSWAP_ERR_INTEGRITY':
      lines.push('ERROR: integrity check failed')
      break
    case 'HOTSWAP_ERR_BOTH_MANAGED':
      lines.push("ERROR: source and destination can't both be managed databases")
      break
    case 'HOTSWAP_ERR_USAGE': {
      // An unknown command, as Thor prints it for the gem's CLI (its spec looks for "Could not find").
      const unknown = /^unknown command (".*") \(commands: /.exec(e.message)
      if (unknown !== null) return `Could not find command ${unknown[1] as string}.\n`
      lines.push(`ERROR: ${e.message}`)
      break
    }
    case 'HOTSWAP_ERR_NOT_MANAGED':
      lines.push(`ERROR: neither path matches a managed database (${databases.map((d) => d.path).join(', ')})`)
      break
    default:
      lines.push(`ERROR: ${e.message}`)
  }
  return [...lines, ...e.details.map((d) => `  ${d}`)].join('\n') + '\n'
}
