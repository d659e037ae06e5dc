// Attached databases (`ATTACH 'cache.sqlite3' AS cache`, however the app ran it) are read from
// the connection (`PRAGMA database_list`) when a pause closes it, and attached again on the
// reopen, so statements on `cache.*` keep working after a swap of either file.
//
//   pause:  readAttachments(old conn) ─▶ [{ name: 'cache', file }] ─▶ kept by the Slot
//   reopen: attachAgain(new conn, kept)   (skips what an open hook has attached itself)

import type Database from 'better-sqlite3'

/** A database attached to a connection: its schema name and its file ('' for a temporary one). */
export interface Attachment { name: string, file: string }

/** What `conn` has attached (not main or temp). Throws while a statement runs on it (busy). */
export function readAttachments (conn: Database.Database): Attachment[] {
  return (conn.pragma('database_list') as Array<{ seq: number, name: string, file: string }>)
    .filter((d) => d.name !== 'main' && d.name !== 'temp')
    .map((d) => ({ name: d.name, file: d.file }))
}

/** Attaches each of `list` to `conn` under its name, unless a database of that name is there. */
export function attachAgain (conn: Database.Database, list: Attachment[]): void {
  if (list.length === 0) return
  const attached = new Set((conn.pragma('database_list') as Attachment[]).map((d) => d.name))
  const attach = conn.prepare('ATTACH DATABASE ? AS ?')
  for (const a of list) if (!attached.has(a.name)) attach.run(a.file, a.name)
}
