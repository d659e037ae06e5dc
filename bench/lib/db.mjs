// Bench databases: `items` (what the app reads, every row tagged with the database's
// generation), `meta` (the label, equal to that generation) and `filler` (blobs that make the
// file the wanted size). WAL mode, as in production.
import fs from 'node:fs'
import Database from 'better-sqlite3'

export const SKUS = 5000
const BLOB = 4000 // one blob per 4 KiB page

/** Creates `path` of about `bytes` bytes with generation `gen`. */
export function createDatabase (path, { bytes, gen }) {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) fs.rmSync(p, { force: true })
  const db = new Database(path)
  try {
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    db.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, sku INTEGER NOT NULL, gen INTEGER NOT NULL, name TEXT NOT NULL);
      CREATE UNIQUE INDEX items_sku ON items (sku);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB NOT NULL);
    `)
    db.transaction(() => {
      const insert = db.prepare('INSERT INTO items (sku, gen, name) VALUES (?, ?, ?)')
      for (let sku = 1; sku <= SKUS; sku++) insert.run(sku, gen, `item ${sku}`)
      db.prepare("INSERT INTO meta (key, value) VALUES ('label', ?)").run(String(gen))
    })()
    const pageSize = db.pragma('page_size', { simple: true })
    const have = db.pragma('page_count', { simple: true }) * pageSize
    const rows = Math.max(0, Math.round((bytes - have) / pageSize))
    const fill = db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
      INSERT INTO filler (b) SELECT randomblob(${BLOB}) FROM c`)
    for (let done = 0; done < rows; done += 10_000) fill.run(Math.min(10_000, rows - done))
    db.pragma('journal_mode = WAL')
  } finally {
    db.close()
  }
  fsyncFile(path)
  return fs.statSync(path).size
}

/** A copy of `src` at `dest` with every row (and the label) moved to generation `gen`. */
export function deriveDatabase (src, dest, gen) {
  for (const p of [dest, `${dest}-wal`, `${dest}-shm`, `${dest}-journal`]) fs.rmSync(p, { force: true })
  fs.copyFileSync(src, dest)
  const db = new Database(dest)
  try {
    db.transaction(() => {
      db.prepare('UPDATE items SET gen = ?').run(gen)
      db.prepare("UPDATE meta SET value = ? WHERE key = 'label'").run(String(gen))
    })()
  } finally {
    db.close() // the last connection checkpoints and removes the -wal: the file stands alone
  }
  fsyncFile(dest)
}

export function labelOf (path) {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck().get()
  } finally {
    db.close()
  }
}

export function fsyncFile (path) {
  const fd = fs.openSync(path, 'r+')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
}

export function removeDatabase (path) {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) fs.rmSync(p, { force: true })
}
