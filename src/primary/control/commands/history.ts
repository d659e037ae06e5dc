// `history [DB…] [--json]` on the socket: each database's generations, newest first, the live
// one marked, with where each came from, its size, digest and pause; and what is staged.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import { formatBytes } from '../../../shared/format.js'
import { describeSource, type Generation } from '../../generations/manifest.js'
import type { StageRecord } from '../../generations/stages.js'
import { databasesNamed, storeOf } from './databases.js'
import { shown, type ServerContext, type Session } from '../session.js'

export interface DatabaseHistoryReport {
  name: string
  path: string
  keep: number
  live: number
  generations: Array<Generation & { live: boolean }>
  staged: StageRecord[]
}

export async function history (s: Session, ctx: ServerContext): Promise<number> {
  s.stdin.resume()
  const names: string[] = []
  let json = false
  for (const a of s.args.slice(1)) {
    if (a === '--json') json = true
    else if (a.startsWith('--')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for history (history [DB…] [--json])`)
    else names.push(a)
  }
  const dbs = names.length > 0 ? databasesNamed(names, s.cwd, ctx) : ctx.databases
  const staged = ctx.coordinator.stages.all()
  const report: DatabaseHistoryReport[] = dbs.map((db) => {
    const m = storeOf(ctx, db).manifest
    return {
      name: db.name,
      path: db.path,
      keep: storeOf(ctx, db).keep,
      live: m.live,
      generations: m.generations.map((g) => ({ ...g, live: g.id === m.live })),
      staged: staged.filter((x) => x.db === db.name),
    }
  })
  if (json) {
    await s.stdout(JSON.stringify({ databases: report }) + '\n')
    return ExitCodes.ok
  }
  const lines: string[] = []
  for (const d of report) {
    lines.push(`${d.name}  ${d.path}  (keeps ${d.keep})`)
    for (const g of d.generations) {
      lines.push(`  ${g.live ? '*' : ' '} ${String(g.id).padStart(3)}  ${g.createdAt}  ${formatBytes(g.bytes).padStart(9)}  ${g.digest === null ? '-'.padEnd(19) : `${g.digest.slice(0, 19)}`}  ` +
        `${g.pauseMs === null ? '' : `pause ${g.pauseMs.toFixed(1)} ms  `}${describeSource(g.source)}${g.live ? '  (live)' : ''}`)
    }
    for (const x of d.staged) {
      lines.push(`  staged ${x.id}  ${new Date(x.createdAt).toISOString()}  ${formatBytes(x.bytes)}  ${x.digest.slice(0, 19)}  ${describeSource(x.source)}  expires ${new Date(x.expiresAt).toISOString()}`)
    }
  }
  await s.stdout(lines.join('\n') + '\n')
  return ExitCodes.ok
}
