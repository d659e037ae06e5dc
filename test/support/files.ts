// The SQLite files a test makes and inspects from outside the server: temp folders (for a test,
// or a whole file with a seeded live.sqlite3), seeded databases in the fixture app's schema,
// candidates to push, a big one made fast, a source with rows only in its -wal, a dump to compare
// data, the label a file holds, integrity_check, the gem specs' and the unit tests' items(id,
// name) files, and the .hotswap- files a swap or a pull may leave beside it.

import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import Database from 'better-sqlite3'
import { sleep } from './wait.js'

export function tempDir (): { dir: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hotswap-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface TestContext { after: (fn: () => void | Promise<void>) => void }

/** A temp dir removed when the test (or suite) `t` ends: what the unit tests use. */
export function testDir (t: TestContext): string {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  return dir
}

/**
 * A temp folder for a whole test file, with `live.sqlite3` seeded in it (label v0 unless told),
 * given to `use` in before() and removed after the file. Clean-up that must run before the
 * removal (stopping servers) goes in an after() registered before this call: hooks run in order.
 */
export function liveForFile (opts: Partial<SeedOptions>, use: (s: { t: ReturnType<typeof tempDir>, live: string }) => void): void {
  let t: ReturnType<typeof tempDir> | undefined
  before(() => {
    t = tempDir()
    const live = join(t.dir, 'live.sqlite3')
    seed(live, { label: 'v0', ...opts })
    use({ t, live })
  })
  after(() => t?.cleanup())
}

export interface SeedOptions {
  label: string
  rows?: number
  wal?: boolean
  /** Extra SQL run after the standard schema (to make a different schema). */
  extraSql?: string
}

/** A database with the fixture app's schema: items(id, name, price_cents) and meta(key, value). */
export function seed (path: string, opts: SeedOptions): void {
  const db = new Database(path)
  try {
    if (opts.wal !== false) db.pragma('journal_mode = WAL')
    db.exec(`CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`)
    if (opts.extraSql !== undefined) db.exec(opts.extraSql)
    const insert = db.prepare('INSERT INTO items (name, price_cents) VALUES (?, ?)')
    db.transaction(() => {
      for (let i = 0; i < (opts.rows ?? 10); i++) insert.run(`item${i}`, i)
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('label', ?)").run(opts.label)
    })()
  } finally {
    db.close()
  }
}

/**
 * A source whose newest label is committed only in its -wal: seeded (labelled `opts.before`,
 * `before-wal` unless told), then relabelled `label` on a connection that never checkpoints.
 * That connection is returned open: closing it checkpoints the -wal into the file.
 */
export function walSource (path: string, label: string, opts: { before?: string, rows?: number } = {}): Database.Database {
  seed(path, { label: opts.before ?? 'before-wal', ...(opts.rows === undefined ? {} : { rows: opts.rows }) })
  const db = new Database(path)
  try {
    db.pragma('wal_autocheckpoint = 0')
    db.prepare("UPDATE meta SET value = ? WHERE key = 'label'").run(label)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/** A database to push: `DIR/LABEL.sqlite3` seeded with `label` (and `rows`, 10 unless told); its path and its bytes. */
export function pushable (dir: string, label: string, rows?: number): { path: string, bytes: Buffer, label: string } {
  const path = join(dir, `${label}.sqlite3`)
  seed(path, { label, ...(rows === undefined ? {} : { rows }) })
  // seed() closes its connection, which removes the -wal: the file is the whole database.
  return { path, bytes: readFileSync(path), label }
}

/** A database with the fixture schema of roughly `mb` megabytes (random names), made fast. */
export function bigDb (path: string, label: string, mb: number): void {
  seed(path, { label, rows: 10, wal: false })
  const db = new Database(path)
  try {
    const rows = Math.round(mb * 1024 * 1024 / 115)
    db.prepare(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
                INSERT INTO items (name, price_cents) SELECT hex(randomblob(50)), i FROM c`).run(rows)
  } finally {
    db.close()
  }
}

/**
 * Opens `path` on a connection of its own (read-only, the file must exist), runs `fn` and closes
 * it. `write: true` opens it read-write: a WAL file whose -shm is gone can only be read that way.
 */
export function withDb<T> (path: string, fn: (db: Database.Database) => T, opts: { write?: boolean } = {}): T {
  const db = new Database(path, { readonly: opts.write !== true, fileMustExist: true })
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

/**
 * The sources the kill tests push, made in `dir`: medium (~2 MB: 32 stdin frames of 64 KiB, so
 * "the middle" and "one frame in" are different places) and big (~24 MB: integrity_check takes
 * a few hundred ms, a window wide enough to kill inside).
 */
export function killSources (dir: string): { medium: string, big: string } {
  const medium = join(dir, 'medium.sqlite3')
  seed(medium, { label: 'medium', rows: 60_000 })
  const big = join(dir, 'big.sqlite3')
  bigDb(big, 'big', 24)
  return { medium, big }
}

/** Reads meta.label straight from a file (outside the server). */
export function labelOf (path: string): string {
  return withDb(path, (db) => db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck().get() as string)
}

/**
 * A file as SQLite sees it, on one read-write connection of its own (a -wal beside it is read, or
 * recovered): integrity_check, the label and the item count, then what `more` reads.
 */
export function inspect<T extends object> (path: string, more: (db: Database.Database) => T): { integrity: string[], label: string, count: number } & T {
  return withDb(path, (db) => ({
    integrity: db.prepare('PRAGMA integrity_check').pluck().all() as string[],
    label: db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck().get() as string,
    count: db.prepare('SELECT count(*) FROM items').pluck().get() as number,
    ...more(db),
  }), { write: true })
}

/** Every table's rows, in a stable order: equal dumps mean equal data. */
export function dump (path: string): string {
  return withDb(path, (db) => {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[]
    return tables.map((t) => `${t}:${JSON.stringify(db.prepare(`SELECT * FROM "${t.replace(/"/g, '""')}" ORDER BY 1`).raw().all())}`).join('\n')
  })
}

/** integrity_check on a fresh connection: read-only unless `write` (see withDb). */
export function integrity (path: string, opts: { write?: boolean } = {}): string[] {
  return withDb(path, (db) => db.prepare('PRAGMA integrity_check').pluck().all() as string[], opts)
}

/**
 * What a swap or a pull left beside the databases in `dir` (temp files, old-file links); not
 * the lock file a primary keeps beside each database (`.NAME.hotswap-lock`).
 */
export function leftovers (dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.hotswap-') && !n.endsWith('.hotswap-lock'))
}

/** The old file's link is unlinked just after the resume: give it a moment. */
export async function waitNoLeftovers (dir: string): Promise<string[]> {
  for (let i = 0; i < 150 && leftovers(dir).length > 0; i++) await sleep(20)
  return leftovers(dir)
}

/** A copy of `src` at `path` whose meta label is `label`, so the live label tells which push (if any) landed. */
export function relabelledCopy (src: string, path: string, label: string): string {
  copyFileSync(src, path)
  withDb(path, (db) => db.prepare("UPDATE meta SET value = ? WHERE key = 'label'").run(label), { write: true })
  return path
}

export interface NamesDbOptions {
  /** journal_mode = WAL (default: a rollback journal). */
  wal?: boolean
  /** The table and its one text column: `items` and `name` unless told. */
  table?: string
  column?: string
  /** `name TEXT`, as the gem's specs make it, instead of `name TEXT NOT NULL`. */
  nullable?: boolean
  /** One more column, `extra TEXT`: the same rows under another schema. */
  extraColumn?: boolean
}

/** A real SQLite file with `items(id INTEGER PRIMARY KEY, name TEXT NOT NULL)` holding `names` (ids from 1). */
export function namesDb (path: string, names: string[], opts: NamesDbOptions = {}): string {
  const table = opts.table ?? 'items'
  const column = opts.column ?? 'name'
  const db = new Database(path)
  try {
    if (opts.wal === true) db.pragma('journal_mode = WAL')
    db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, ${column} TEXT${opts.nullable === true ? '' : ' NOT NULL'}${opts.extraColumn === true ? ', extra TEXT' : ''})`)
    const insert = db.prepare(`INSERT INTO ${table} (${column}) VALUES (?)`)
    db.transaction(() => { for (const n of names) insert.run(n) })()
  } finally {
    db.close()
  }
  return path
}

/** The names in a names database's items table, by id (or sorted by name). */
export function namesIn (path: string, order: 'id' | 'name' = 'id'): string[] {
  return withDb(path, (db) => db.prepare(`SELECT name FROM items ORDER BY ${order}`).pluck().all() as string[])
}

/** A database as the gem's specs make them: `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)` (or another table and column) and rows. */
export function specDb (path: string, names: string[], table = 'items', column = 'name'): string {
  return namesDb(path, names, { table, column, nullable: true })
}

/** The names in a spec database's items table, sorted. */
export function specRows (path: string): string[] {
  return namesIn(path, 'name')
}

/**
 * A small filesystem of its own at `dir` (tmpfs, 2 MiB unless told), so "disk full" is real:
 * ENOSPC from write(2). Where mounting is not permitted (not root), or HOTSWAP_TEST_NO_MOUNT=1
 * asks for the fallback, `mounted` is false and `error` says why.
 */
export function mountTmpfs (dir: string, size = '2m'): { mounted: boolean, error: string } {
  mkdirSync(dir)
  try {
    if (process.env.HOTSWAP_TEST_NO_MOUNT === '1') throw new Error('HOTSWAP_TEST_NO_MOUNT=1')
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
    return { mounted: true, error: '' }
  } catch (err) {
    return { mounted: false, error: ((err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message).trim() }
  }
}

/** Unmounts what mountTmpfs() mounted; still busy (a process of a failed test): detached now, freed by the kernel later. */
export function unmount (dir: string): void {
  try { execFileSync('umount', [dir]) } catch { try { execFileSync('umount', ['-l', dir]) } catch { /* reported by the leftover mount */ } }
}

/** How many rows the items table holds, read from outside the server. */
export function countItems (path: string): number {
  return withDb(path, (db) => db.prepare('SELECT count(*) FROM items').pluck().get() as number)
}
