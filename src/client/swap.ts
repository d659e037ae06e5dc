// `hotswap swap NAME=FILE…`: several databases replaced in one pause, in one command. Each file
// is pushed as a stage (received and checked as any push), then all are committed together;
// when any stage fails, the ones already staged are aborted and nothing live changes.
//
//   for each NAME=FILE: cp FILE NAME --stage ─▶ stage id     (one fails: abort the ids, exit)
//   commit ID…  ─▶ one pause ─▶ OK

import { HotswapError } from '../shared/errors.js'
import { cp } from './cp.js'
import { reportError } from './output.js'
import { remoteCommand } from './remote-command.js'

export interface SwapOptions {
  pairs: string[]
  socketPath: string
  skipIntegrityCheck: boolean
  skipSchemaCheck: boolean
  force: boolean
}

export function parsePairs (pairs: string[]): Array<{ db: string, src: string }> {
  if (pairs.length === 0) throw new HotswapError('HOTSWAP_ERR_USAGE', 'swap takes NAME=FILE pairs (hotswap swap app=new.sqlite3 cache=cache.sqlite3)')
  return pairs.map((p) => {
    const eq = p.indexOf('=')
    if (eq <= 0 || eq === p.length - 1) throw new HotswapError('HOTSWAP_ERR_USAGE', `swap takes NAME=FILE pairs (got ${JSON.stringify(p.slice(0, 64))})`)
    const src = p.slice(eq + 1)
    if (src === '-') throw new HotswapError('HOTSWAP_ERR_USAGE', 'swap reads files, not stdin: stage a stream with hotswap cp - NAME --stage, then hotswap commit')
    return { db: p.slice(0, eq), src }
  })
}

export async function swap (o: SwapOptions): Promise<number> {
  let pairs
  try {
    pairs = parsePairs(o.pairs)
  } catch (err) {
    return reportError(err)
  }
  const staged: string[] = []
  for (const { db, src } of pairs) {
    let out = ''
    let code: number
    try {
      code = await cp({
        src, dst: db, socketPath: o.socketPath, skipIntegrityCheck: o.skipIntegrityCheck, skipSchemaCheck: o.skipSchemaCheck, force: o.force, stage: true,
        onStdout: (c) => { out += c.toString('utf8') },
      })
    } catch (err) {
      code = reportError(err)
    }
    const id = out.trim()
    if (code !== 0 || !/^[0-9a-f]{8}$/.test(id)) {
      // Nothing live changed; what was staged for this swap goes.
      if (staged.length > 0) await remoteCommand(o.socketPath, ['abort', ...staged], { quiet: true })
      return code === 0 ? reportError(new HotswapError('HOTSWAP_ERR_PROTOCOL', `the server answered ${JSON.stringify(out.slice(0, 64))} to a stage of ${db}`)) : code
    }
    staged.push(id)
  }
  const code = await remoteCommand(o.socketPath, ['commit', ...staged, ...(o.force ? ['--force'] : [])])
  if (code !== 0) await remoteCommand(o.socketPath, ['abort', ...staged], { quiet: true })
  return code
}
