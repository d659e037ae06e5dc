// oclif's postrun hook: after `hotswap autocomplete` (any shell, or --refresh-cache) has built
// the completion cache, the bash function in it is replaced by ours (src/client/bash-completion.ts),
// which completes file names and flag values besides commands and flags. The setup line that
// `hotswap autocomplete script bash` prints sources this same file.

import type { Hook } from '@oclif/core'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bashCompletion } from '../client/bash-completion.js'

const hook: Hook<'postrun'> = async function (opts) {
  if (opts.Command.id !== 'autocomplete') return
  // Where @oclif/plugin-autocomplete keeps it: <cacheDir>/autocomplete/functions/bash/<bin>.bash
  const dir = join(opts.config.cacheDir, 'autocomplete', 'functions', 'bash')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${opts.config.bin}.bash`), bashCompletion(opts.config.bin, opts.config.commands))
}

export default hook
