// `commit [ID…]` and `abort [ID…]` on the socket: every staged database named (all staged when
// none is) swapped in one pause, or dropped.
//
//   commit: stages.take (fresh, checked against the live generation) ─▶ coordinator.commit ─▶ OK
//   abort:  under the swap lock (never under a commit using the file) ─▶ stages.drop ─▶ OK

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { StageRecord } from '../../generations/stages.js'
import { answerCommit } from './answer.js'
import { shown, type ServerContext, type Session } from '../session.js'

function stageIds (s: Session, command: string, flags: string[]): { ids: string[], flags: Set<string> } {
  s.stdin.resume()
  const ids: string[] = []
  const given = new Set<string>()
  for (const a of s.args.slice(1)) {
    if (flags.includes(a)) given.add(a)
    else if (a.startsWith('-')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for ${command} (${command} [ID…]${flags.map((f) => ` [${f}]`).join('')})`)
    else ids.push(a)
  }
  return { ids, flags: given }
}

export async function commit (s: Session, ctx: ServerContext): Promise<number> {
  const { ids, flags } = stageIds(s, 'commit', ['--force'])
  const stages = ctx.coordinator.stages
  const taken = stages.take(ids)
  let report
  try {
    const items = taken.map((rec) => ({
      db: dbOf(ctx, rec), newPath: stages.pathOf(rec), source: rec.source, bytes: rec.bytes, digest: rec.digest, stage: rec,
    }))
    report = await ctx.coordinator.commit({ kind: 'commit', items, force: flags.has('--force'), isCancelled: () => false })
  } finally {
    stages.release(taken) // Until now, none of them could expire under the commit.
  }
  if (s.tty) s.stderr(`committed ${report.databases.map((d) => `${d.name} (generation ${d.to})`).join(', ')} in one pause of ${report.pauseMs.toFixed(1)} ms\n`)
  return await answerCommit(s, report)
}

export async function abort (s: Session, ctx: ServerContext): Promise<number> {
  const { ids } = stageIds(s, 'abort', [])
  const stages = ctx.coordinator.stages
  await ctx.coordinator.withLock('abort', async () => {
    const wanted = ids.length === 0 ? stages.all() : ids.map((id) => stages.get(id))
    if (wanted.length === 0) throw new HotswapError('HOTSWAP_ERR_UNKNOWN_STAGE', 'nothing is staged')
    for (const rec of wanted) await stages.drop(rec, 'aborted')
    ctx.logger.info(`aborted ${wanted.map((r) => `stage ${r.id} of ${r.db}`).join(', ')}`, { event: 'abort', stages: wanted.map((r) => r.id) })
  })
  await s.stdout('OK\n')
  return ExitCodes.ok
}

function dbOf (ctx: ServerContext, rec: StageRecord): { name: string, path: string } {
  const db = ctx.databases.find((d) => d.name === rec.db)
  if (db === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `stage ${rec.id} is of ${rec.db}, which is not served`)
  return db
}
