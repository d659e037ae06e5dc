// `undo [DB…] [--to ID]` on the socket: the previous generation (or generation ID) of each
// database swapped back in, in one ordinary pause. The generation it replaces is kept, so an
// undo can itself be undone. With no DB: the one database, or the databases of the last commit.
//
//   kept file ─▶ header + size checked ─▶ coordinator.commit (kind undo: the kept file is the
//   new one, renamed in; the live one is linked aside as kept) ─▶ "OK"
//   --hold MS [--ready] (a fleet's host, `fleet undo`): held as a commit --hold is (hold.ts)

import { openSync, readSync, closeSync, statSync } from 'node:fs'
import { HotswapError } from '../../../shared/errors.js'
import type { DatabaseInfo } from '../../../shared/messages.js'
import { keptOf, type Generation } from '../../generations/manifest.js'
import type { GenerationStore } from '../../generations/store.js'
import { checkHeader, HEADER_BYTES } from '../../sqlite/header.js'
import type { CommitItem } from '../../swap/coordinator.js'
import { databasesNamed, storeOf } from './databases.js'
import { answerCommit } from './answer.js'
import { checkReady, holdMsOf, holdOf } from './hold.js'
import { shown, type ServerContext, type Session } from '../session.js'

export async function undo (s: Session, ctx: ServerContext): Promise<number> {
  const names: string[] = []
  let to: number | undefined
  let holdMs: number | undefined
  let force = false
  let ready = false
  const rest = s.args.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    const m = /^--to(?:=(.*))?$/.exec(a)
    if (m !== null) {
      const v = m[1] ?? rest[++i]
      to = Number(v)
      if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(to)) throw new HotswapError('HOTSWAP_ERR_USAGE', `--to takes a generation id (got ${v === undefined ? 'nothing' : shown(v)}; hotswap history lists them)`)
    } else if (/^--hold(?:=|$)/.test(a)) {
      holdMs = holdMsOf(a.includes('=') ? a.slice('--hold='.length) : rest[++i])
    } else if (a === '--force') {
      force = true
    } else if (a === '--ready') {
      ready = true
    } else if (a.startsWith('--')) {
      throw new HotswapError('HOTSWAP_ERR_USAGE', `unknown flag ${shown(a)} for undo (undo [DB…] [--to ID] [--force] [--hold MS [--ready]])`)
    } else {
      names.push(a)
    }
  }
  checkReady('undo', holdMs, ready)
  if (holdMs === undefined) s.stdin.resume() // Only a held undo reads stdin (its start and go).
  const dbs = names.length > 0 ? databasesNamed(names, s.cwd, ctx) : lastCommitted(ctx)
  if (to !== undefined && dbs.length !== 1) throw new HotswapError('HOTSWAP_ERR_USAGE', '--to names a generation of one database: undo DB --to ID')
  const items = dbs.map((db) => itemFor(db, storeOf(ctx, db), to))
  const hold = holdMs === undefined ? undefined : holdOf(s, holdMs, ready)
  const report = await ctx.coordinator.commit({ kind: 'undo', items, force, isCancelled: s.isClosed, hold })
  if (s.tty) s.stderr(report.databases.map((d) => `undid ${d.name}: generation ${d.to} (the content of ${itemOf(items, d.name)}) is live, ${d.from} is kept; pause ${report.pauseMs.toFixed(1)} ms\n`).join(''))
  return await answerCommit(s, report)
}

function itemOf (items: CommitItem[], name: string): number {
  return items.find((i) => i.db.name === name)?.undoOf ?? 0
}

/** With no name: the only database, or those the last commit changed (all of them at once). */
function lastCommitted (ctx: ServerContext): DatabaseInfo[] {
  if (ctx.databases.length === 1) return ctx.databases
  const lives = ctx.databases.map((db) => ({ db, live: storeOf(ctx, db).live }))
  const latest = lives.filter((l) => l.live.commit !== null).sort((a, b) => b.live.createdAt.localeCompare(a.live.createdAt))[0]
  if (latest === undefined) throw new HotswapError('HOTSWAP_ERR_NOTHING_KEPT', `nothing was swapped since these databases were first served: there is nothing to undo (${ctx.databases.map((d) => d.name).join(', ')})`)
  return lives.filter((l) => l.live.commit === latest.live.commit).map((l) => l.db)
}

function itemFor (db: DatabaseInfo, store: GenerationStore, to: number | undefined): CommitItem {
  let g: Generation | undefined
  if (to !== undefined) {
    g = store.kept(to)
  } else {
    g = keptOf(store.manifest)[0]
    if (g === undefined) {
      throw new HotswapError('HOTSWAP_ERR_NOTHING_KEPT', store.keep === 0
        ? `${db.name} keeps no earlier generation (serve --keep 0): there is nothing to undo to`
        : `${db.name} keeps no earlier generation yet (generation ${store.live.id} is the first this server knows): there is nothing to undo to`)
    }
  }
  const path = store.keptPath(g.id)
  checkKeptFile(db, g, path)
  return { db, newPath: path, source: { kind: 'undo', of: g.id }, bytes: g.bytes, digest: g.digest, undoOf: g.id, undoFrom: store.live.id }
}

/**
 * A kept file is a whole SQLite database of the size it was retired with, checked before the
 * lock: its header (magic, page size, size = pages × page size) and its size. No SQLite
 * connection of this process has a kept file open, so reading it with fs here is safe.
 */
function checkKeptFile (db: DatabaseInfo, g: Generation, path: string): void {
  let size: number
  const head = Buffer.alloc(HEADER_BYTES)
  let n = 0
  try {
    size = statSync(path).size
    const fd = openSync(path, 'r')
    try { n = readSync(fd, head, 0, HEADER_BYTES, 0) } finally { closeSync(fd) }
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_SOURCE', `kept generation ${g.id} of ${db.name} cannot be read at ${path}: ${(err as Error).message}`)
  }
  const r = checkHeader(head.subarray(0, n), size)
  if (!r.ok) throw new HotswapError(r.code, `kept generation ${g.id} of ${db.name} (${path}): ${r.message}; nothing was changed`, r.details)
  if (g.digest !== null && size !== g.bytes) {
    throw new HotswapError('HOTSWAP_ERR_TRUNCATED', `kept generation ${g.id} of ${db.name} is ${size} bytes, but it was kept with ${g.bytes}: it changed since; nothing was changed`)
  }
}
