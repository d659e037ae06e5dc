// `cp LIVE -` with stdout on a terminal would spray a database's bytes over it (curl refuses the
// same: "binary output can mess up your terminal"), and `cp - LIVE` with stdin on a terminal
// would wait for a database to be typed. Both are usage errors, refused before the socket is
// dialled, so the server never hears of them; each says how to redirect.

import { HotswapError } from '../shared/errors.js'
import type { CpOptions } from './cp-options.js'

export interface Terminals { stdin: boolean, stdout: boolean }

/** Throws HOTSWAP_ERR_USAGE when `-` stands for a terminal. */
export function refuseTerminal (o: Pick<CpOptions, 'src' | 'dst'>, on: Terminals = { stdin: process.stdin.isTTY === true, stdout: process.stdout.isTTY === true }): void {
  if (o.dst === '-' && on.stdout) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `will not write a database to a terminal: redirect stdout (hotswap cp ${o.src} - > FILE) or pull into a file (hotswap cp ${o.src} FILE)`)
  }
  if (o.src === '-' && on.stdin) {
    throw new HotswapError('HOTSWAP_ERR_USAGE', `will not read a database from a terminal: redirect stdin (hotswap cp - ${o.dst} < FILE) or push the file (hotswap cp FILE ${o.dst})`)
  }
}
