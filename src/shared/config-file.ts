// The config file itself: hotswap.config.json, .mjs or .js in the working directory, or the one
// named. Read by serve (primary/config.ts: its settings) and by the fleet commands
// (client/fleet/config.ts: its "fleet" section); each checks the keys it owns.

import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { HotswapError } from './errors.js'

export const CONFIG_NAMES = ['hotswap.config.json', 'hotswap.config.mjs', 'hotswap.config.js']

/** Fresh reads so far: each one imports the module under a URL of its own. */
let reads = 0

/**
 * The file's object (own keys only, no prototype) and its path; undefined when there is none.
 * `fresh`: an .mjs/.js file is imported anew (a reload), not taken from the module cache.
 */
export async function readConfigFile (cwd: string, explicit?: string, fresh = false): Promise<{ file: string, config: Record<string, unknown> } | undefined> {
  let file: string | undefined
  if (explicit !== undefined) {
    file = resolve(cwd, explicit)
    if (!existsSync(file)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `config file not found: ${file}`)
  } else {
    file = CONFIG_NAMES.map((n) => resolve(cwd, n)).find((p) => existsSync(p))
    if (file === undefined) return undefined
  }
  let raw: unknown
  try {
    if (file.endsWith('.json')) {
      raw = JSON.parse(readFileSync(file, 'utf8'))
    } else {
      const url = pathToFileURL(file).href + (fresh ? `?reload=${++reads}` : '')
      const mod = await import(url) as { default?: unknown }
      raw = mod.default
    }
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_CONFIG', `cannot read ${file}: ${(err as Error).message}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `${file}: the config must be an object`)
  // Own keys only: a name from the file never reaches Object.prototype (an .mjs config's
  // `__proto__: {...}` would otherwise lend it settings that the key check never saw).
  return { file, config: Object.assign(Object.create(null) as Record<string, unknown>, Object.fromEntries(Object.entries(raw))) }
}
