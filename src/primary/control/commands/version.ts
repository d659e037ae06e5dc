// `version` on the socket: the server's version (the client's own is `hotswap version`).

import { ExitCodes } from '../../../shared/errors.js'
import { VERSION } from '../../../shared/version.js'
import type { Session } from '../session.js'

export async function version (s: Session): Promise<number> {
  s.stdin.resume()
  await s.stdout(`hotswap ${VERSION}\n`)
  return ExitCodes.ok
}
