// --node-option: node flags for the workers (their execArgv). A flag node does not know would
// make every worker exit at its start ("node: bad option"), a crash loop that ends the server
// with a vague reason; it is refused at start-up instead, with node's own words.
//
//   the flag's name in process.allowedNodeEnvironmentFlags ─▶ accepted (no process started)
//   any other ─▶ `node FLAGS -e ''` once ─▶ exit 0: accepted; else HOTSWAP_ERR_CONFIG with node's stderr

import { spawnSync } from 'node:child_process'
import { HotswapError } from '../shared/errors.js'

/** Throws HOTSWAP_ERR_CONFIG when node refuses one of `options`. */
export function checkNodeOptions (options: string[]): void {
  const unknown = options.filter((o) => !process.allowedNodeEnvironmentFlags.has(o.split('=')[0] as string))
  if (unknown.length === 0) return
  // The allowed set is what NODE_OPTIONS takes; node itself takes more (--expose-gc, V8 flags).
  const r = spawnSync(process.execPath, [...unknown, '-e', ''], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'ignore', 'pipe'] })
  if (r.error !== undefined || r.status === 0) return // Could not tell (a timeout): the workers will say.
  const said = r.stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit ${String(r.status)}`
  throw new HotswapError('HOTSWAP_ERR_CONFIG', `--node-option: node refuses ${unknown.join(' ')}: ${said}`)
}
