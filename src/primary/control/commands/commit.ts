// `commit [ID…]` and `abort [ID…]` on the socket: every staged database named (all staged when
// none is) swapped in one pause, or dropped.
//
//   commit: stages.take (fresh, checked against the live generation) ─▶ coordinator.commit ─▶ OK
//   commit --hold MS [--ready] (a fleet's host): with --ready, "READY" once all but the pause is
//          done, the pause on a "start" line; once paused, "PAUSED" on stdout; installs on a "go"
//          line on stdin, resumes unchanged on "abort", end of input, a disconnect or MS without
//          either (hold.ts)
//   abort:  under the swap lock (never under a commit using the file) ─▶ stages.drop ─▶ OK

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { StageRecord } from '../../generations/stages.js'
import { answerCommit } from './answer.js'
import { checkReady, holdMsOf, holdOf } from './hold.js'
import { shown, type ServerContext, type Session } from '../session.js'

function stageIds (s: Session, command: string, flags: string[]): { ids: string[], flags: Set<string>, holdMs?: number, ready: boolean } {
  const ids: string[] = []
  const given = new Set<string>()
  let holdMs: number | undefined
  let ready = false
  const args = s.args.slice(1)
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    const hold = command === 'commit' ? /^--hold(?:=(.*))?$/.exec(a) : null
    if (hold !== null) {
      holdMs = holdMsOf(hold[1] ?? args[++i])
    } else if (command === 'commit' && a === '--ready') {
      ready = true
    } else if (flags.includes(a)) given.add(a)
    else if (a.startsWith('-')) throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for ${command} (${command} [ID…]${flags.map((f) => ` [${f}]`).join('')})`)
    else ids.push(a)
  }
  checkReady(command, holdMs, ready)
  if (holdMs === undefined) s.stdin.resume() // Only a held commit reads stdin (its start and go).
  return { ids, flags: given, holdMs, ready }
}

export async function commit (s: Session, ctx: ServerContext): Promise<number> {
  const { ids, flags, holdMs, ready } = stageIds(s, 'commit', ['--force'])
  const stages = ctx.coordinator.stages
  const taken = stages.take(ids)
  let report
  try {
    const items = taken.map((rec) => ({
      db: dbOf(ctx, rec), newPath: stages.pathOf(rec), source: rec.source, bytes: rec.bytes, digest: rec.digest, stage: rec,
    }))
    const hold = holdMs === undefined ? undefined : holdOf(s, holdMs, ready)
    report = await ctx.coordinator.commit({ kind: 'commit', items, force: flags.has('--force'), isCancelled: hold === undefined ? () => false : s.isClosed, hold })
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
    ctx.logger.info(`aborted ${wanted.map((r) => `stage ${r.id} of ${r.db} (checked against generation ${r.checkedAgainst}, which stays live)`).join(', ')}`, {
      event: 'abort', stages: wanted.map((r) => ({ id: r.id, db: r.db, checkedAgainst: r.checkedAgainst })),
    })
  })
  await s.stdout('OK\n')
  return ExitCodes.ok
}

function dbOf (ctx: ServerContext, rec: StageRecord): { name: string, path: string } {
  const db = ctx.databases.find((d) => d.name === rec.db)
  if (db === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `stage ${rec.id} is of ${rec.db}, which is not served`)
  return db
}
