// Schema comparison between the live database and an uploaded one.
//
// SQLite stores each object's CREATE statement in sqlite_master exactly as it was typed, with
// its comments, line breaks and quoting. Two databases built from the same migrations by
// different tools (or an ALTER TABLE against a fresh CREATE) then hold different text for the
// same schema, so we compare a normalised form and show the user a +/- diff of that form.

import type { Database } from 'better-sqlite3'

export interface SchemaEntry {
  type: string
  name: string
  tblName: string
  sql: string
}

/** Characters around which whitespace carries no meaning in SQL and is dropped. */
const PUNCTUATION = new Set(['(', ')', ',', ';'])

/** Closing character for each identifier quote SQLite accepts. */
const IDENTIFIER_QUOTES: Record<string, string> = { '"': '"', '[': ']', '`': '`' }

type Token = { kind: 'space' } | { kind: 'punct', text: string } | { kind: 'word', text: string }

/**
 * Normalises CREATE statements so that equal schemas compare equal as text: comments are
 * stripped, whitespace is collapsed (and dropped around `( ) , ;`), quoted identifiers are
 * unquoted, keywords and identifiers are lower-cased, and a trailing `;` is dropped.
 *
 * String literals are kept exactly as written, case included: `CHECK (kind IN ('A'))` and
 * `CHECK (kind IN ('a'))` accept different rows, so they are different schemas.
 */
export function normalizeSql (sql: string): string {
  const tokens: Token[] = []
  let word = ''
  const flushWord = (): void => {
    if (word !== '') tokens.push({ kind: 'word', text: word })
    word = ''
  }
  const space = (): void => {
    flushWord()
    if (tokens.length > 0 && tokens[tokens.length - 1].kind !== 'space') tokens.push({ kind: 'space' })
  }

  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    if (c === '-' && sql[i + 1] === '-') {
      // A line comment runs to the end of the line (or of the text).
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
      space()
    } else if (c === '/' && sql[i + 1] === '*') {
      // SQLite lets an unterminated block comment run to the end of the text.
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? sql.length : end + 2
      space()
    } else if (/\s/.test(c)) {
      i++
      space()
    } else if (c === "'") {
      // A string literal; '' inside it is an escaped quote. It stays verbatim, quotes and all.
      const end = closingQuote(sql, i, "'")
      word += sql.slice(i, end)
      i = end
    } else if (c in IDENTIFIER_QUOTES) {
      // A quoted identifier is the same identifier unquoted ("Items" is items), so keep only
      // its name, lower-cased like an unquoted one, with doubled quotes undone.
      const close = IDENTIFIER_QUOTES[c]
      const end = closingQuote(sql, i, close)
      const inner = sql.slice(i + 1, sql[end - 1] === close ? end - 1 : end)
      word += (close === ']' ? inner : inner.split(close + close).join(close)).toLowerCase()
      i = end
    } else if (PUNCTUATION.has(c)) {
      flushWord()
      tokens.push({ kind: 'punct', text: c })
      i++
    } else {
      word += c.toLowerCase()
      i++
    }
  }
  flushWord()

  // A space survives only between two non-punctuation tokens.
  let out = ''
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]
    if (t.kind === 'space') {
      const prev = tokens[k - 1]
      const next = tokens[k + 1]
      if (prev?.kind === 'word' && next?.kind === 'word') out += ' '
    } else {
      out += t.text
    }
  }
  out = out.trim()
  while (out.endsWith(';')) out = out.slice(0, -1).trimEnd()
  return out
}

/**
 * Returns the index just past the quote that closes the one at `start`. A doubled closing
 * quote inside is an escape, except for `[...]`, which has no escape. An unterminated quote
 * runs to the end of the text.
 */
function closingQuote (sql: string, start: number, close: string): number {
  let i = start + 1
  while (i < sql.length) {
    if (sql[i] === close) {
      if (close !== ']' && sql[i + 1] === close) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  return sql.length
}

/**
 * Reads the user-visible schema: tables, indexes, views and triggers, without SQLite's own
 * `sqlite_%` objects (sqlite_sequence, sqlite_stat1, ...) and without automatic indexes (their
 * sql is NULL), since those depend on how the file was built, not on the schema.
 */
export function readSchema (db: Database): SchemaEntry[] {
  // `_` is a LIKE wildcard, so it is escaped: a user table called `sqliteish` must count.
  const rows = db.prepare(
    "SELECT type, name, tbl_name AS tblName, sql FROM sqlite_master " +
    "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql IS NOT NULL"
  ).all() as SchemaEntry[]
  // Names are compared lower-cased because SQLite's identifiers are case-insensitive.
  return rows
    .map((r) => ({
      type: r.type,
      name: r.name.toLowerCase(),
      tblName: r.tblName.toLowerCase(),
      sql: normalizeSql(r.sql),
    }))
    .sort(compareEntries)
}

/**
 * Lists the differences between two schemas as readable lines, ordered by type and name:
 * `- type name: sql` for what the live database has and the candidate lacks (or has in another
 * form), `+ type name: sql` for what the candidate brings. Equal schemas give [].
 */
export function diffSchemas (live: SchemaEntry[], candidate: SchemaEntry[]): string[] {
  const key = (e: SchemaEntry): string => `${e.type}\0${e.name}`
  const liveByKey = new Map(live.map((e) => [key(e), e]))
  const candidateByKey = new Map(candidate.map((e) => [key(e), e]))
  const all = [...new Map([...live, ...candidate].map((e) => [key(e), e])).values()].sort(compareEntries)

  const lines: string[] = []
  for (const entry of all) {
    const l = liveByKey.get(key(entry))
    const c = candidateByKey.get(key(entry))
    if (l !== undefined && c !== undefined && l.sql === c.sql) continue
    if (l !== undefined) lines.push(`- ${l.type} ${l.name}: ${l.sql}`)
    if (c !== undefined) lines.push(`+ ${c.type} ${c.name}: ${c.sql}`)
  }
  return lines
}

/** Orders by type, then name, by code unit so the order does not depend on the locale. */
function compareEntries (a: SchemaEntry, b: SchemaEntry): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1
  if (a.name !== b.name) return a.name < b.name ? -1 : 1
  return 0
}
